package main_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	main "github.com/waitroom/waitroom/cmd/waitroom"
)

// Every curl line of the README and docs/, in their sh blocks, works as
// written against `make run`'s configuration (etc/dev.yaml): the gateway
// and the operator API answer 2xx. Only the addresses change (the test's
// listeners, not :8080 and :8081) and the token file's place.
func TestDocs_CurlLinesWork(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is not installed; the README's lines use it (apt-get install curl)")
	}
	lines := docCurlLines(t)
	if len(lines) < 3 {
		t.Fatalf("found %d curl lines in README.md and docs/, want the README's three at least", len(lines))
	}

	dir := t.TempDir()
	var schedule bytes.Buffer
	sm := main.NewMain()
	sm.Stdout, sm.Stderr = &schedule, io.Discard
	if err := sm.Run(context.Background(), []string{"schedule"}); err != nil {
		t.Fatal(err)
	}
	token := filepath.Join(dir, "admin-token")
	for name, body := range map[string][]byte{"schedule.yaml": schedule.Bytes(), "admin-token": []byte("readme-admin-token-0123456789\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("WAITROOM_IDENTITY_SCHEDULE", filepath.Join(dir, "schedule.yaml"))
	t.Setenv("WAITROOM_ADMIN_TOKEN_FILE", token)
	backend := MustRun(t, "demo-backend", "--listen", "127.0.0.1:0")
	gw := MustRun(t, "serve", "--config", "../../etc/dev.yaml", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--backend", "http://"+backend.PublicAddr)

	for _, line := range lines {
		script := strings.NewReplacer("127.0.0.1:8080", gw.PublicAddr, "127.0.0.1:8081", gw.AdminAddr, "var/admin-token", token).Replace(line)
		// -f: an HTTP error is a failure; -S: say why.
		script = strings.ReplaceAll(script, "curl ", "curl -f -S ")
		out, err := exec.Command("bash", "-euo", "pipefail", "-c", "T=$(cat "+token+"); "+script).CombinedOutput()
		if err != nil {
			t.Errorf("%s\n  failed: %v\n  %s", line, err, out)
		}
	}
}

// docCurlLines returns the curl commands of the sh blocks of README.md and
// docs/*.md.
func docCurlLines(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob("../../docs/*.md")
	files = append([]string{"../../README.md"}, files...)
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		in := false
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			l := strings.TrimSpace(sc.Text())
			switch {
			case strings.HasPrefix(l, "```"):
				in = !in && (l == "```sh" || l == "```bash")
			case in && strings.HasPrefix(l, "curl "):
				out = append(out, l)
			}
		}
	}
	return out
}
