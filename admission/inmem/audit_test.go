package inmem_test

import (
	"testing"

	"github.com/waitroom/waitroom/admission/admissiontest"
	"github.com/waitroom/waitroom/admission/inmem"
)

func TestStore_Console(t *testing.T) {
	admissiontest.RunConsole(t, func(testing.TB) admissiontest.ConsoleStore { return inmem.New() })
}
