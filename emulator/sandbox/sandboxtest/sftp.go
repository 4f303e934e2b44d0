package sandboxtest

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/sandbox"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// SFTP logs in to the sandbox's drop site with a password and returns an SFTP client, closed
// when the test ends. The host key is checked against the sandbox's own.
func SFTP(tb testing.TB, sb *sandbox.Sandbox, user, password string) *sftp.Client {
	tb.Helper()
	_, _, hostKey, _, _, err := ssh.ParseKnownHosts([]byte(sb.SFTPHostKey()))
	if err != nil {
		tb.Fatalf("the sandbox's host key: %v", err)
	}
	c, conn, err := dial(sb.SFTPAddr(), user, ssh.FixedHostKey(hostKey), ssh.Password(password))
	if err != nil {
		tb.Fatalf("sftp login as %s: %v", user, err)
	}
	tb.Cleanup(func() { c.Close(); conn.Close() })
	return c
}

// DialSFTP opens an SFTP session on addr with the given authentication, accepting any host
// key; closing the SSH connection ends it.
func DialSFTP(addr, user string, auth ...ssh.AuthMethod) (*sftp.Client, *ssh.Client, error) {
	return dial(addr, user, ssh.InsecureIgnoreHostKey(), auth...)
}

func dial(addr, user string, hostKey ssh.HostKeyCallback, auth ...ssh.AuthMethod) (*sftp.Client, *ssh.Client, error) {
	conn, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User: user, Auth: auth, Timeout: 5 * time.Second, HostKeyCallback: hostKey,
	})
	if err != nil {
		return nil, nil, err
	}
	c, err := sftp.NewClient(conn)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return c, conn, nil
}

// Put uploads data to path and fails the test if the upload does not complete.
func Put(tb testing.TB, c *sftp.Client, path string, data []byte) {
	tb.Helper()
	f, err := c.Create(path)
	if err != nil {
		tb.Fatalf("sftp create %s: %v", path, err)
	}
	if _, err := io.Copy(f, bytes.NewReader(data)); err != nil {
		tb.Fatalf("sftp write %s: %v", path, err)
	}
	if err := f.Close(); err != nil {
		tb.Fatalf("sftp close %s: %v", path, err)
	}
}

// Get downloads path, failing the test if it cannot.
func Get(tb testing.TB, c *sftp.Client, path string) []byte {
	tb.Helper()
	f, err := c.Open(path)
	if err != nil {
		tb.Fatalf("sftp open %s: %v", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		tb.Fatalf("sftp read %s: %v", path, err)
	}
	return b
}
