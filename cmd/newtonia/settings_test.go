package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every flag of the engine's settings is validated by compare.Settings
// and named in the usage error (flagOf): exit 2, nothing written.
func TestSettingsFlags(t *testing.T) {
	for flag, bad := range map[string]string{"-r": "-1", "-cg-tol": "0", "-cg-maxiter": "-1", "-cg-time": "-1s", "-damping": "-1",
		"-exact-damping": "+Inf", "-dense-max": "-1", "-dense-mem": "0", "-dense-time": "0s"} {
		out := filepath.Join(t.TempDir(), "out")
		code, _, stderr := runCmd(t, "products", "-out", out, flag, bad, example)
		if code != exitUsage || !strings.HasPrefix(stderr, "newtonia products: "+flag+" ") && !strings.HasPrefix(stderr, "newtonia products: "+flag+":") {
			t.Errorf("%s %s: exit %d, %q", flag, bad, code, stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s %s: output written", flag, bad)
		}
	}
}
