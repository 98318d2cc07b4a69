package redis_test

import (
	"testing"

	"github.com/waitroom/waitroom/admission/admissiontest"
	"github.com/waitroom/waitroom/internal/redistest"
)

func TestStore_Console(t *testing.T) {
	t.Run("Standalone", func(t *testing.T) {
		srv := redistest.Start(t)
		admissiontest.RunConsole(t, func(tb testing.TB) admissiontest.ConsoleStore {
			s, _ := mustStore(tb, srv.Addr())
			return s
		})
	})
	t.Run("Cluster", func(t *testing.T) {
		c := redistest.StartCluster(t, 3)
		admissiontest.RunConsole(t, func(tb testing.TB) admissiontest.ConsoleStore {
			s, _ := mustStore(tb, c.Addrs()...)
			return s
		})
	})
}
