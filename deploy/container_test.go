// Package deploy_test runs the container image as docs/DEPLOY.md says:
// built from deploy/Containerfile, the configuration file mounted read-only
// with the systemd layout's permissions (root-owned, 0640, group-readable),
// the secrets from an environment file, a read-only root, no capabilities.
//
// This machine reaches no container registry, so the image's two base
// images (golang for the build stage, distroless for the runtime) cannot be
// pulled. The test builds the binary exactly as the build stage's RUN line
// does and puts it on an empty base (FROM scratch) with the runtime stage's
// own USER, ENV, EXPOSE, ENTRYPOINT and CMD, read from the Containerfile.
// What it does not test is distroless's content: its CA certificates and
// /etc/passwd entry for uid 65532 (docs/DEPLOY.md says so).
package deploy_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// SkipEnv, set to 1, skips the container test on purpose.
const SkipEnv = "WAITROOM_SKIP_CONTAINER"

// buildLine is the build stage's compile step; the test compiles the same way.
const buildLine = `RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/waitroom ./cmd/waitroom`

func TestContainer_ServesWithTheDocumentedMounts(t *testing.T) {
	if os.Getenv(SkipEnv) == "1" {
		t.Skip("container test skipped: " + SkipEnv + "=1")
	}
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatal("podman is not installed: run `make test-deps` as root or `sudo apt-get install podman runc`, or set " + SkipEnv + "=1 to skip the container test")
	}
	if os.Getuid() != 0 {
		t.Fatal("the container test runs rootful podman, as the systemd host of docs/DEPLOY.md does: run it as root, or set " + SkipEnv + "=1")
	}
	dir := t.TempDir()
	image := "localhost/waitroom-test:" + strconv.FormatInt(time.Now().UnixNano(), 36)

	// The image: the Containerfile's runtime stage on an empty base.
	spec, err := os.ReadFile("Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(spec, []byte(buildLine)) {
		t.Fatalf("deploy/Containerfile no longer builds with %s: update the test to build as it does", buildLine)
	}
	runtime := string(spec[bytes.LastIndex(spec, []byte("\nFROM ")):])
	runtime = "FROM scratch" + runtime[strings.Index(runtime[1:], "\n")+1:]
	runtime = strings.Replace(runtime, "COPY --from=build /out/waitroom ", "COPY waitroom ", 1)
	if !strings.Contains(runtime, "COPY waitroom /usr/local/bin/waitroom") || !strings.Contains(runtime, "USER 65532:65532") {
		t.Fatalf("unexpected runtime stage:\n%s", runtime)
	}
	must(t, os.WriteFile(filepath.Join(dir, "Containerfile"), []byte(runtime), 0o644))
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "waitroom"), "../cmd/waitroom")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	run(t, build)
	run(t, exec.Command("podman", "build", "-q", "-t", image, dir))
	t.Cleanup(func() { _ = exec.Command("podman", "rmi", "-f", image).Run() })

	// The files, as the systemd section lays them out: the configuration
	// root-owned 0640 in the service's group (here a group of its own), the
	// secrets 0600.
	keys, err := exec.Command(filepath.Join(dir, "waitroom"), "keygen").Output()
	if err != nil {
		t.Fatal(err)
	}
	const gid = 41_957
	cfg := filepath.Join(dir, "waitroom.yaml")
	must(t, os.WriteFile(cfg, append([]byte("environment: production\nbackend: http://127.0.0.1:9\nroom: container\n"), keys...), 0o640))
	must(t, os.Chown(cfg, 0, gid))
	must(t, os.Chmod(dir, 0o755))
	secrets := filepath.Join(dir, "secrets.env")
	const token = "container-test-admin-token-0123456789"
	must(t, os.WriteFile(secrets, []byte("WAITROOM_ADMIN_TOKEN="+token+"\n"), 0o600))

	public, admin := freePort(t), freePort(t)
	start := func(name string, extra ...string) {
		args := append([]string{"run", "-d", "--name", name, "--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges",
			"-p", "127.0.0.1:" + public + ":8080", "-p", "127.0.0.1:" + admin + ":8081",
			"-v", cfg + ":/etc/waitroom/waitroom.yaml:ro", "--env-file", secrets}, sandboxArgs()...)
		args = append(append(args, extra...), image)
		run(t, exec.Command("podman", args...))
		t.Cleanup(func() { _ = exec.Command("podman", "rm", "-f", name).Run() })
	}

	t.Run("ErrConfigUnreadableWithoutTheGroup", func(t *testing.T) {
		// The image's user (uid 65532) is in no group of the host's: the
		// file is unreadable unless the container joins its group.
		name := "waitroom-test-nogroup-" + public
		start(name)
		logs := waitExit(t, name)
		if !strings.Contains(logs, "permission denied") {
			t.Fatalf("without --group-add the gateway started or failed otherwise:\n%s", logs)
		}
	})

	t.Run("OK", func(t *testing.T) {
		name := "waitroom-test-" + public
		start(name, "--group-add", strconv.Itoa(gid)) // docs: --group-add "$(stat -c %g /etc/waitroom/waitroom.yaml)"
		base := "http://127.0.0.1:" + public
		if err := waitOK(base + "/readyz"); err != nil {
			logs, _ := exec.Command("podman", "logs", name).CombinedOutput()
			t.Fatalf("the container never got ready: %v\n%s", err, logs)
		}
		resp, err := http.Post(base+"/waitroom/api/join", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("join: %d, want 200", resp.StatusCode)
		}
		req, _ := http.NewRequest("GET", "http://127.0.0.1:"+admin+"/admin/api/state", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("operator API with the token from the secrets file: %d, want 200", resp.StatusCode)
		}
		user, _ := exec.Command("podman", "inspect", "--format", "{{.Config.User}}", name).Output()
		if got := strings.TrimSpace(string(user)); got != "65532:65532" {
			t.Errorf("the container runs as %q, want 65532:65532", got)
		}
	})
}

// sandboxArgs are what this kind of machine needs of podman beyond the
// documented command: runc (crun refuses its hybrid cgroup hierarchy) and
// resource limits no higher than the host's, since the sandbox lacks
// CAP_SYS_RESOURCE (and refuses process limits above 32768 outright).
func sandboxArgs() []string {
	var args []string
	if _, err := exec.LookPath("runc"); err == nil {
		args = append(args, "--runtime", "runc")
	}
	for _, l := range []struct {
		flag     string
		res      int
		fallback uint64
	}{{"nofile", unix.RLIMIT_NOFILE, 1024}, {"nproc", unix.RLIMIT_NPROC, 1024}} {
		var r unix.Rlimit
		n := l.fallback
		if unix.Getrlimit(l.res, &r) == nil {
			n = min(r.Cur, 32768)
		}
		args = append(args, "--ulimit", fmt.Sprintf("%s=%d:%d", l.flag, n, n))
	}
	return args
}

func waitOK(url string) error {
	c := &http.Client{Timeout: time.Second}
	var last error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
	}
	return last
}

// waitExit waits for the container to stop and returns its logs.
func waitExit(t *testing.T, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "podman", "wait", name).CombinedOutput(); err != nil {
		t.Fatalf("podman wait: %v\n%s", err, out)
	}
	logs, _ := exec.Command("podman", "logs", name).CombinedOutput()
	return string(logs)
}

func run(t *testing.T, c *exec.Cmd) {
	t.Helper()
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(c.Args, " "), err, out)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
