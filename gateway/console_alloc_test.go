//go:build !race

package gateway_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/waitroom/waitroom/gateway"
)

// The operator's message rides along in the status poll without costing
// it an allocation, however long it is.
func TestStatusWaitingAllocs_Message(t *testing.T) {
	r := newBenchRoom(t, unusedBackend)
	text := strings.Repeat("<&>가", gateway.MaxMessage/4) // <, & and > become six bytes each in JSON
	in, _ := json.Marshal(map[string]string{"message": text})
	set := newCtx("PUT", "/admin/api/message", map[string]string{"Authorization": "Bearer " + adminToken})
	set.Request.SetBody(in)
	set.Request.Header.SetHost("localhost") // a name the operator listener answers to
	gateway.NewAdmin(r.g, adminToken, nil).Handle(set)
	if set.Response.StatusCode() != fasthttp.StatusOK {
		t.Fatalf("setting the message: %d %s", set.Response.StatusCode(), set.Response.Body())
	}
	ctx := waitingCtx(t, r)
	r.g.Handle(ctx)
	var s struct{ State, Message string }
	if err := json.Unmarshal(ctx.Response.Body(), &s); err != nil || s.State != "waiting" || s.Message != text {
		t.Fatalf("status %s: %+v, %v", ctx.Response.Body(), s, err)
	}
	ctx.Response.Reset()
	got := testing.AllocsPerRun(200, func() {
		r.g.Handle(ctx)
		ctx.Response.Reset()
	})
	if got != 0 {
		t.Errorf("waiting status poll with a message: %v allocations, want 0", got)
	}
}
