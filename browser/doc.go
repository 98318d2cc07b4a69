// Package browser holds the real-browser tests of what people see: the
// waiting page and the operator console, in headless Chromium (see
// internal/browsertest), against real `waitroom` processes started from a
// binary built once per run, with the configuration `make run` uses
// (etc/dev.yaml).
//
// With WAITROOM_SCREENSHOTS=1 the tests also write the screenshots in
// docs/screenshots/ (`make screenshots`); other runs leave them alone.
package browser
