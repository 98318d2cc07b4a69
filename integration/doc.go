// Package integration proves "many gateways, one queue" with real processes:
// its tests build bin/waitroom once, start gateways as separate OS processes
// that share ticket keys and one Redis (standalone or Cluster), and drive
// them over HTTP as visitors and operators would, including Redis crashing
// and a gateway being killed. With identity first, two development
// identity providers (separate processes, as separate companies) and two
// gateways show one person getting one place whichever provider they verify
// with.
//
// The package has no API; everything lives in its tests:
//
//	go test ./integration/
//	    the fleet, failure and identity tests, about 80 s
//	WAITROOM_MEASURE=1 go test -run Measure -v ./integration/
//	    joins/s, polls/s, Redis commands and CPU per request, gateway and
//	    Redis memory with a million people waiting, a few minutes
package integration
