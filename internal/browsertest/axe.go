package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/chromedp/chromedp"
)

// AxeEnv names the environment variable that points at axe-core's
// axe.min.js; by default it is where `make test-deps` installs it with npm:
// var/npm/node_modules/axe-core/axe.min.js in the module's root.
const AxeEnv = "WAITROOM_AXE_JS"

// axeViolation is one rule axe-core found broken, with the elements.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// Axe runs axe-core (WCAG 2.x A and AA rules and best practices) on the
// page and fails the test for every violation, naming the rule, its impact
// and the elements. The script is evaluated through the DevTools protocol,
// which the page's Content-Security-Policy does not govern, so pages keep
// their strict policy.
func (b *Browser) Axe() {
	b.t.Helper()
	src, err := axeSource()
	if err != nil {
		b.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(b.ctx, StepTimeout)
	defer cancel()
	run := `(async () => {
  if (!window.axe) { ` + src + ` }
  const r = await axe.run(document, {resultTypes: ['violations']});
  return r.violations;
})()`
	found, err := chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](run, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("browser: axe-core on %s: %v", b.location(), err)
	}
	for _, v := range found {
		var where []string
		for _, n := range v.Nodes {
			where = append(where, fmt.Sprintf("%v: %s", n.Target, strings.ReplaceAll(n.Summary, "\n", " ")))
		}
		b.t.Errorf("browser: axe-core on %s: %s (%s): %s\n  %s", b.location(), v.ID, v.Impact, v.Help, strings.Join(where, "\n  "))
	}
}

// axeSource reads axe.min.js from AxeEnv or the module's var/npm.
func axeSource() (string, error) {
	path := os.Getenv(AxeEnv)
	if path == "" {
		root, err := moduleRoot()
		if err != nil {
			return "", err
		}
		path = filepath.Join(root, "var", "npm", "node_modules", "axe-core", "axe.min.js")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("axe-core is not installed (%w): run `make test-deps` (npm install axe-core into var/npm), or set %s to an axe.min.js", err, AxeEnv)
	}
	return string(b), nil
}

// moduleRoot is the nearest directory above the working one with a go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("browsertest: no go.mod above the working directory")
		}
		dir = parent
	}
}
