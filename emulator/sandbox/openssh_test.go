package sandbox_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ogsandbox/ogsandbox/emulator/config"
	"github.com/ogsandbox/ogsandbox/emulator/sandbox"
	"github.com/ogsandbox/ogsandbox/emulator/sandbox/sandboxtest"
	"golang.org/x/crypto/ssh"
)

// requireTool skips a test when an external tool is missing, unless OGSANDBOX_REQUIRE_TOOLS=1
// (CI), where a missing tool fails it.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("OGSANDBOX_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s is not installed (OGSANDBOX_REQUIRE_TOOLS=1): %v", name, err)
		}
		t.Skipf("%s is not installed", name)
	}
	return path
}

// openSSH starts a sandbox whose demo merchant takes a key, and returns a function that runs
// OpenSSH's own sftp on a batch file against it, in batch mode with the key and strict host
// key checking against the sandbox's persistent host key; dir is a scratch directory.
func openSSH(t *testing.T) (sb *sandbox.Sandbox, dir string, run func(batch string) string) {
	t.Helper()
	sftpBin := requireTool(t, "sftp")
	dir = t.TempDir()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "ogsandbox test")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, _ := ssh.NewSignerFromKey(priv)
	sb = sandboxtest.Start(t, func(c *config.Config) {
		c.Merchants[0].SFTP.AuthorizedKeys = []string{string(ssh.MarshalAuthorizedKey(signer.PublicKey()))}
	})
	knownHosts := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownHosts, []byte(sb.SFTPHostKey()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return sb, dir, func(commands string) string {
		t.Helper()
		batch := filepath.Join(dir, "batch")
		if err := os.WriteFile(batch, []byte(commands), 0o644); err != nil {
			t.Fatal(err)
		}
		host, port, _ := strings.Cut(sb.SFTPAddr(), ":")
		cmd := exec.CommandContext(t.Context(), sftpBin, "-b", batch, "-P", port, "-i", keyFile,
			"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "PasswordAuthentication=no",
			"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
			"-F", "/dev/null", "petstore@"+host)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("sftp -b: %v\n%s", err, out)
		}
		return string(out)
	}
}

// OpenSSH's own sftp uploads a product feed to incoming/, and downloads the report the sandbox
// wrote to outgoing/.
func TestOpenSSHClientDropsAFeed(t *testing.T) {
	sb, dir, run := openSSH(t)
	feedFile := filepath.Join(dir, "feed.xml")
	if err := os.WriteFile(feedFile, []byte(`<products><product><name><![CDATA[OpenSSH Chews]]></name><product_id>SSH-1</product_id><sku>SSH-1</sku><price>3.00</price><in_stock>1</in_stock></product></products>`), 0o644); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "report.txt")
	name := demoID + ".Products.xml"
	out := run("cd incoming\nput " + feedFile + " " + name + "\ncd ../outgoing\nget " + name + ".report.txt " + report + "\nls -1\n")
	got, err := os.ReadFile(report)
	if err != nil || !strings.Contains(string(got), "1 products read: 1 accepted, 0 refused") {
		t.Fatalf("the report OpenSSH downloaded: %v\n%s\nsftp said:\n%s", err, got, out)
	}
	if !strings.Contains(out, name+".report.json") {
		t.Fatalf("ls of outgoing/:\n%s", out)
	}
	if rep := lastFeed(t, sb); rep.File != "incoming/"+name || rep.Accepted != 1 {
		t.Fatalf("feed report: %+v", rep)
	}
}

// OpenSSH's reput resumes an upload: it opens the file to append (SSH_FXF_APPEND) and writes
// from the size it found. The file ends up whole.
func TestOpenSSHClientResumesAnUpload(t *testing.T) {
	_, dir, run := openSSH(t)
	full := bytes.Repeat([]byte("ogsandbox resumes uploads\n"), 20_000) // 520 KB
	half, whole, back := filepath.Join(dir, "half.txt"), filepath.Join(dir, "whole.txt"), filepath.Join(dir, "back.txt")
	if err := os.WriteFile(half, full[:len(full)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(whole, full, 0o644); err != nil {
		t.Fatal(err)
	}
	run("put " + half + " notes.txt\nreput " + whole + " notes.txt\nget notes.txt " + back + "\n")
	got, err := os.ReadFile(back)
	if err != nil || !bytes.Equal(got, full) {
		t.Fatalf("after reput: %d bytes (%v), want the %d of the whole file", len(got), err, len(full))
	}
}
