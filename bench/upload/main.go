// Command upload measures the SFTP drop site's transfer rate against OpenSSH's own server, in
// one run: OpenSSH's sftp client, in batch mode with an ed25519 key and curve25519-sha256 key
// exchange, uploads one random file (50 MiB) to
//
//   - the sandbox (`ogsandbox serve`, configured so that the demo merchant accepts the key), as
//     incoming/big.bin: stored, not read;
//   - OpenSSH's sshd with internal-sftp, started in the foreground on loopback with a throwaway
//     configuration, into a temporary directory.
//
// The CPU time each server and the client spent on each upload is reported beside, to show
// which side bounds the rate. Uploads alternate (sandbox, sshd, sandbox, ...); each is preceded by a session with nothing
// but `pwd`, the set-up time, so that the net rate can be read. A first session to each
// server warms up and is not counted. Read the ratio, not the
// absolute figures: these machines are noisy.
//
//	go run ./bench/upload [-mib 50] [-runs 3] [-cipher aes128-gcm@openssh.com] [-cpuprofile sandbox.prof]
package main

import (
	"bytes"
	"crypto/rand"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ogsandbox/ogsandbox/bench/internal/benchkit"
)

const (
	merchantID = "0e5de2bedc5e11e3a2e4bc764e106cf4"
	sftpUser   = "petstore"
	sshd       = "/usr/sbin/sshd"
)

func main() {
	benchkit.Name = "upload bench"
	mib := flag.Int("mib", 50, "size of the uploaded file, in MiB")
	runs := flag.Int("runs", 3, "uploads to each server, alternating (medians are reported)")
	cipher := flag.String("cipher", "", "force this SSH cipher on the client (-o Ciphers=...); default: OpenSSH's own choice")
	cpuprofile := flag.String("cpuprofile", "", "have the sandbox write a CPU profile of its whole life to this file (OGSANDBOX_CPUPROFILE)")
	keep := flag.Bool("keep", false, "keep the temporary directory (keys, configurations, logs)")
	flag.Parse()
	if *runs < 1 {
		benchkit.Fail(fmt.Errorf("-runs must be at least 1"))
	}
	if _, err := os.Stat(sshd); err != nil {
		benchkit.Fail(fmt.Errorf("%s is missing: install OpenSSH's server first (Debian: apt-get update && apt-get install -y openssh-server)", sshd))
	}
	for _, tool := range []string{"sftp", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			benchkit.Fail(fmt.Errorf("%s is missing (Debian: apt-get install -y openssh-client)", tool))
		}
	}
	me, err := user.Current()
	benchkit.Check(err)

	dir, err := os.MkdirTemp("", "ogsandbox-bench-*")
	benchkit.Check(err)
	if *keep {
		fmt.Fprintln(os.Stderr, "upload bench: keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	var cleanups []func()
	defer func() {
		for _, f := range slices.Backward(cleanups) {
			f()
		}
	}()
	// fail must not leave servers running.
	benchkit.Fail = func(err error) {
		for _, f := range slices.Backward(cleanups) {
			f()
		}
		if !*keep {
			os.RemoveAll(dir)
		}
		fmt.Fprintln(os.Stderr, "upload bench:", err)
		os.Exit(1)
	}

	sandboxBin := filepath.Join(dir, "ogsandbox")
	benchkit.Build(sandboxBin, "./cmd/ogsandbox")
	key := filepath.Join(dir, "client_ed25519")
	keygen(key)
	pub, err := os.ReadFile(key + ".pub")
	benchkit.Check(err)

	local := filepath.Join(dir, "big.bin")
	data := make([]byte, *mib<<20)
	rand.Read(data)
	benchkit.Check(os.WriteFile(local, data, 0o644))
	data = nil
	size := float64(*mib << 20)

	// The sandbox, with the demo merchant accepting the key.
	sbPort, sbSFTPPort := benchkit.FreePort(), benchkit.FreePort()
	sbData := filepath.Join(dir, "sandbox-data")
	cfgPath := filepath.Join(dir, "ogsandbox.yaml")
	benchkit.Check(os.WriteFile(cfgPath, fmt.Appendf(nil, `listen: 127.0.0.1:%d
sftp_listen: 127.0.0.1:%d
data_dir: %s
merchants:
  - merchant_id: %s
    public_id: 9d0e5d6c3a1211ecb9090242ac120002
    name: Pet Store
    hash_key: "Mt!ZQ45q&GHsgiRD8{NB-_h87#rjvbn0"
    sftp: {username: %s, password: petstore-sftp, authorized_keys: [%q]}
`, sbPort, sbSFTPPort, sbData, merchantID, sftpUser, strings.TrimSpace(string(pub))), 0o600))
	sbLog := filepath.Join(dir, "sandbox.log")
	sb := exec.Command(sandboxBin, "serve", "--config", cfgPath)
	sb.Env = os.Environ()
	if *cpuprofile != "" {
		abs, err := filepath.Abs(*cpuprofile)
		benchkit.Check(err)
		sb.Env = append(sb.Env, "OGSANDBOX_CPUPROFILE="+abs)
	}
	start(sb, sbLog)
	cleanups = append(cleanups, func() { stop(sb) })
	if err := benchkit.WaitReady(fmt.Sprintf("http://127.0.0.1:%d/_sandbox/health", sbPort), 5*time.Millisecond, 15*time.Second); err != nil {
		benchkit.Fail(withLog(err, sbLog))
	}

	// OpenSSH's server, in the foreground, with a throwaway configuration.
	benchkit.Check(os.MkdirAll("/run/sshd", 0o755)) // its privilege separation directory
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	keygen(hostKey)
	authKeys := filepath.Join(dir, "authorized_keys")
	benchkit.Check(os.WriteFile(authKeys, pub, 0o600))
	sshdTarget := filepath.Join(dir, "sshd-uploads")
	benchkit.Check(os.Mkdir(sshdTarget, 0o755))
	sshdPort := benchkit.FreePort()
	sshdCfg := filepath.Join(dir, "sshd_config")
	benchkit.Check(os.WriteFile(sshdCfg, fmt.Appendf(nil, `ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
StrictModes no
PermitRootLogin yes
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PrintMotd no
Subsystem sftp internal-sftp
PidFile %s
`, hostKey, authKeys, filepath.Join(dir, "sshd.pid")), 0o600))
	sshdLog := filepath.Join(dir, "sshd.log")
	sd := exec.Command(sshd, "-D", "-e", "-f", sshdCfg, "-p", fmt.Sprint(sshdPort))
	start(sd, sshdLog)
	cleanups = append(cleanups, func() { stop(sd) })
	if err := waitBanner(sshdPort); err != nil {
		benchkit.Fail(withLog(err, sshdLog))
	}

	type server struct {
		name, user  string
		port        int
		remote, log string
		check       func() error // the uploaded file arrived whole
		pid         int
		setup, put  []time.Duration
		srvCPU      []time.Duration // the server's CPU time per upload (sshd: with its reaped sessions)
		cliCPU      []time.Duration // the client's (sftp and its ssh)
	}
	servers := []*server{
		{name: "ogsandbox drop site", user: sftpUser, port: sbSFTPPort, remote: "incoming/big.bin", log: sbLog, pid: sb.Process.Pid,
			check: func() error { return sizeUnder(sbData, "big.bin", int64(size)) }},
		{name: "OpenSSH sshd internal-sftp", user: me.Username, port: sshdPort, remote: filepath.Join(sshdTarget, "big.bin"), log: sshdLog, pid: sd.Process.Pid,
			check: func() error { return sizeUnder(sshdTarget, "big.bin", int64(size)) }},
	}
	// One session each first, to warm up (not counted) and to learn the negotiated cipher.
	cipherUsed := map[string]string{}
	for _, s := range servers {
		_, out, err := sftpBatch(dir, key, s.user, s.port, *cipher, "pwd\n", true, nil)
		if err != nil {
			benchkit.Fail(withLog(fmt.Errorf("%s: sftp pwd: %v\n%s", s.name, err, out), s.log))
		}
		cipherUsed[s.name] = negotiated(out)
	}
	for i := 0; i < *runs; i++ {
		for _, s := range servers {
			d, out, err := sftpBatch(dir, key, s.user, s.port, *cipher, "pwd\n", false, nil)
			if err != nil {
				benchkit.Fail(withLog(fmt.Errorf("%s: sftp pwd: %v\n%s", s.name, err, out), s.log))
			}
			s.setup = append(s.setup, d)
			cpu0 := cpuTime(s.pid)
			var cli time.Duration
			d, out, err = sftpBatch(dir, key, s.user, s.port, *cipher, fmt.Sprintf("put %s %s\n", local, s.remote), false, &cli)
			time.Sleep(200 * time.Millisecond) // sshd reaps the session's processes
			s.srvCPU = append(s.srvCPU, cpuTime(s.pid)-cpu0)
			s.cliCPU = append(s.cliCPU, cli)
			if err != nil {
				benchkit.Fail(withLog(fmt.Errorf("%s: sftp put: %v\n%s", s.name, err, out), s.log))
			}
			if err := s.check(); err != nil {
				benchkit.Fail(fmt.Errorf("%s: %v", s.name, err))
			}
			s.put = append(s.put, d)
		}
	}

	fmt.Printf("OpenSSH sftp -b, one %d MiB random file, %d uploads each, alternating; medians\n", *mib, *runs)
	fmt.Printf("client: -o KexAlgorithms=curve25519-sha256 -o BatchMode=yes, ed25519 key; cipher: %s\n", orDefault(*cipher))
	fmt.Printf("%-28s %8s %8s %8s %9s %10s %10s  %s\n", "server", "put", "MiB/s", "set-up", "net MiB/s", "server CPU", "client CPU", "cipher negotiated")
	rates := map[string][2]float64{}
	for _, s := range servers {
		put, setup := median(s.put), median(s.setup)
		gross, net := size/(1<<20)/put.Seconds(), size/(1<<20)/(put-setup).Seconds()
		rates[s.name] = [2]float64{gross, net}
		fmt.Printf("%-28s %8s %8.1f %8s %9.1f %10s %10s  %s\n", s.name, put.Round(time.Millisecond), gross, setup.Round(time.Millisecond), net,
			median(s.srvCPU).Round(time.Millisecond), median(s.cliCPU).Round(time.Millisecond), cipherUsed[s.name])
	}
	sbr, sdr := rates[servers[0].name], rates[servers[1].name]
	fmt.Printf("ratio (sandbox / sshd), MiB/s: %.2f  (aim: >= 0.80); net of set-up: %.2f\n", sbr[0]/sdr[0], sbr[1]/sdr[1])
	for _, s := range servers {
		fmt.Printf("  %-26s put %s; set-up %s\n", s.name, durations(s.put), durations(s.setup))
	}
}

// sftpBatch runs one OpenSSH sftp session in batch mode and times it, start to exit.
// cpu, if not nil, receives the CPU time of the client (sftp and the ssh it runs).
func sftpBatch(dir, key, user string, port int, cipher, batch string, verbose bool, cpu *time.Duration) (time.Duration, []byte, error) {
	bf, err := os.CreateTemp(dir, "batch-*")
	benchkit.Check(err)
	bf.WriteString(batch)
	bf.Close()
	defer os.Remove(bf.Name())
	args := []string{"-b", bf.Name(), "-F", "/dev/null", "-i", key, "-P", fmt.Sprint(port),
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "KexAlgorithms=curve25519-sha256",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"}
	if cipher != "" {
		args = append(args, "-o", "Ciphers="+cipher)
	}
	if verbose {
		args = append(args, "-v")
	} else {
		args = append(args, "-o", "LogLevel=ERROR")
	}
	cmd := exec.Command("sftp", append(args, user+"@127.0.0.1")...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err = cmd.Run()
	d := time.Since(t0)
	if cpu != nil && cmd.ProcessState != nil {
		*cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	return d, out.Bytes(), err
}

// cpuTime reads a process's CPU time, with that of the children it has reaped, from /proc.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	benchkit.Check(err)
	// The fields after the command name, which is in parentheses: utime is the 14th field.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ticks := 0
	for _, i := range []int{11, 12, 13, 14} { // utime, stime, cutime, cstime
		n, err := strconv.Atoi(f[i])
		benchkit.Check(err)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on Linux.
const clockTicks = 100

// negotiated picks the cipher out of sftp -v's output.
func negotiated(out []byte) string {
	for _, line := range strings.Split(string(out), "\n") {
		if _, after, ok := strings.Cut(line, "kex: client->server cipher: "); ok {
			return strings.Fields(after)[0]
		}
	}
	return "?"
}

// sizeUnder checks that a file named name under root has size bytes.
func sizeUnder(root, name string, size int64) error {
	found := false
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != name {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() != size {
			return fmt.Errorf("%s holds %d bytes, want %d", p, info.Size(), size)
		}
		found = true
		return nil
	})
	if err == nil && !found {
		err = fmt.Errorf("no %s under %s after the upload", name, root)
	}
	return err
}

func keygen(path string) {
	cmd := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ogsandbox-bench", "-f", path)
	if out, err := cmd.CombinedOutput(); err != nil {
		benchkit.Fail(fmt.Errorf("ssh-keygen: %v\n%s", err, out))
	}
}

func start(cmd *exec.Cmd, logPath string) {
	f, err := os.Create(logPath)
	benchkit.Check(err)
	cmd.Stdout, cmd.Stderr = f, f
	benchkit.Check(cmd.Start())
}

func stop(cmd *exec.Cmd) {
	if cmd.Process != nil && cmd.ProcessState == nil {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
}

func withLog(err error, logPath string) error {
	b, _ := os.ReadFile(logPath)
	s := string(b)
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return fmt.Errorf("%v\n--- %s ---\n%s--- end ---", err, filepath.Base(logPath), s)
}

// waitBanner waits until an SSH server on port sends its version line.
func waitBanner(port int) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(2 * time.Second))
			b := make([]byte, 4)
			_, err = c.Read(b)
			c.Close()
			if err == nil && string(b) == "SSH-" {
				return nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("no SSH server on port %d after 15s", port)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func durations(ds []time.Duration) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, d.Round(time.Millisecond).String())
	}
	return strings.Join(parts, ", ")
}

func orDefault(c string) string {
	if c == "" {
		return "OpenSSH's default preference"
	}
	return c + " (forced)"
}
