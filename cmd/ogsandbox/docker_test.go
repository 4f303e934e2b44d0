package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ogsandbox/ogsandbox/emulator/config"
	"gopkg.in/yaml.v3"
)

// No Docker engine runs here, so the container files are checked by parsing them: what they
// build, run, expose and set must be what this program provides.

// dockerfile is a parsed Dockerfile: its instructions, continuation lines joined.
func dockerfile(t *testing.T) [][2]string {
	t.Helper()
	f, err := os.Open("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][2]string
	var cur string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur == "" && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur += strings.TrimSuffix(line, `\`) + " "
			continue
		}
		cur += line
		instr, rest, _ := strings.Cut(cur, " ")
		out = append(out, [2]string{strings.ToUpper(instr), strings.TrimSpace(rest)})
		cur = ""
	}
	return out
}

func goVersion(t *testing.T) string {
	b, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	return string(m[1])
}

func TestDockerfile(t *testing.T) {
	var froms, env, expose []string
	var build, entry, cmd string
	for _, in := range dockerfile(t) {
		switch in[0] {
		case "FROM":
			froms = append(froms, in[1])
		case "RUN":
			if strings.Contains(in[1], "go build") {
				build = in[1]
			}
		case "ENV":
			for _, kv := range strings.Fields(in[1]) {
				k, _, _ := strings.Cut(kv, "=")
				env = append(env, k)
			}
		case "EXPOSE":
			expose = strings.Fields(in[1])
		case "ENTRYPOINT":
			entry = in[1]
		case "CMD":
			cmd = in[1]
		case "WORKDIR", "COPY", "VOLUME", "HEALTHCHECK", "ARG", "LABEL", "USER":
		default:
			t.Errorf("unknown Dockerfile instruction %s", in[0])
		}
	}
	if len(froms) != 2 || !strings.HasPrefix(froms[0], "golang:"+goVersion(t)+" ") {
		t.Errorf("FROM %q: the build stage must use the Go of go.mod (%s)", froms, goVersion(t))
	}
	if !strings.Contains(build, "./cmd/ogsandbox") || !strings.Contains(build, "CGO_ENABLED=0") {
		t.Errorf("the build step %q must build ./cmd/ogsandbox statically", build)
	}
	var ep, c []string
	if json.Unmarshal([]byte(entry), &ep) != nil || json.Unmarshal([]byte(cmd), &c) != nil || len(ep) != 1 || len(c) != 1 || c[0] != "serve" {
		t.Errorf("ENTRYPOINT %s CMD %s: want the binary, then serve", entry, cmd)
	}
	checkEnv(t, "Dockerfile", env)
	if !slices.Equal(expose, []string{"8080", "2222"}) {
		t.Errorf("EXPOSE %v: want the HTTP and SFTP ports 8080 2222", expose)
	}
}

func TestDockerCompose(t *testing.T) {
	b, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var dc struct {
		Services map[string]struct {
			Build       string            `yaml:"build"`
			Image       string            `yaml:"image"`
			Ports       []string          `yaml:"ports"`
			Volumes     []string          `yaml:"volumes"`
			Environment map[string]string `yaml:"environment"`
			StopGrace   string            `yaml:"stop_grace_period"`
			Healthcheck struct {
				Test     []string `yaml:"test"`
				Interval string   `yaml:"interval"`
				Timeout  string   `yaml:"timeout"`
				Retries  int      `yaml:"retries"`
			} `yaml:"healthcheck"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&dc); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	s, ok := dc.Services["ogsandbox"]
	if !ok || s.Build != "." {
		t.Fatalf("docker-compose.yml: service ogsandbox built from . : %+v", dc.Services)
	}
	if !slices.Contains(s.Ports, "8080:8080") || !slices.Contains(s.Ports, "2222:2222") {
		t.Errorf("ports %v", s.Ports)
	}
	var env []string
	for k := range s.Environment {
		env = append(env, k)
	}
	checkEnv(t, "docker-compose.yml", env)
	if len(s.Healthcheck.Test) < 3 || s.Healthcheck.Test[0] != "CMD" || s.Healthcheck.Test[2] != "health" {
		t.Errorf("healthcheck %v: want the binary's health command", s.Healthcheck.Test)
	}
	for _, v := range s.Volumes {
		name, _, _ := strings.Cut(v, ":")
		if !strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "/") {
			if _, ok := dc.Volumes[name]; !ok {
				t.Errorf("volume %s is not declared", name)
			}
		}
	}
}

// checkEnv fails for an OGSANDBOX_* variable that no flag of serve reads.
func checkEnv(t *testing.T, file string, names []string) {
	t.Helper()
	fs := (&Main{}).flags("serve")
	config.ServeFlags(fs)
	known := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { known[config.EnvName(f.Name)] = true })
	for _, n := range names {
		if !known[n] {
			t.Errorf("%s sets %s, which no flag of serve reads", file, n)
		}
	}
}
