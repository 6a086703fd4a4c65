package config

import (
	"reflect"
	"testing"
)

func TestHTTP(t *testing.T) {
	const head = "[archive]\ndir = \"/a\"\n[http]\n"
	t.Setenv("JARCHIVE_TEST_TOKEN", "0123456789abcdef-env")
	for _, tc := range []struct {
		doc      string
		want     HTTP
		loopback bool
		warnings []string
	}{
		{doc: "", want: HTTP{}},
		{doc: "listen = '127.0.0.1:9587'\n", want: HTTP{Listen: "127.0.0.1:9587"}, loopback: true},
		{doc: "listen = '[::1]:0'\n", want: HTTP{Listen: "[::1]:0"}, loopback: true},
		{doc: "listen = 'localhost:9587'\n", want: HTTP{Listen: "localhost:9587"}, loopback: true},
		{doc: "listen = ':9587'\n", want: HTTP{Listen: ":9587"},
			warnings: []string{`[http] listen = ":9587" is reachable from other hosts and metrics_token is not set: /metrics answers only loopback clients`}},
		{doc: "listen = '0.0.0.0:9587'\nmetrics_token = '0123456789abcdef'\n",
			want: HTTP{Listen: "0.0.0.0:9587", MetricsToken: NewSecret("0123456789abcdef")}},
		{doc: "listen = 'archiver.example.com:9587'\nmetrics_token_env = 'JARCHIVE_TEST_TOKEN'\n",
			want: HTTP{Listen: "archiver.example.com:9587", MetricsToken: NewSecret("0123456789abcdef-env"), MetricsTokenEnv: "JARCHIVE_TEST_TOKEN"}},
	} {
		cfg, err := Parse("x.toml", []byte(head+tc.doc))
		if err != nil {
			t.Errorf("%q: %v", tc.doc, err)
			continue
		}
		if !reflect.DeepEqual(cfg.HTTP, tc.want) {
			t.Errorf("%q: got %+v; want %+v", tc.doc, cfg.HTTP, tc.want)
		}
		if cfg.HTTP.MetricsToken.Reveal() != tc.want.MetricsToken.Reveal() {
			t.Errorf("%q: token %q; want %q", tc.doc, cfg.HTTP.MetricsToken.Reveal(), tc.want.MetricsToken.Reveal())
		}
		if got := cfg.HTTP.IsLoopback(); got != tc.loopback {
			t.Errorf("%q: IsLoopback() = %v; want %v", tc.doc, got, tc.loopback)
		}
		if got := cfg.Warnings(); !reflect.DeepEqual(got, tc.warnings) {
			t.Errorf("%q: warnings %q; want %q", tc.doc, got, tc.warnings)
		}
	}
}

func TestHTTPErrors(t *testing.T) {
	const head = "[archive]\ndir = \"/a\"\n[http]\n"
	setBadEnv(t)
	for _, tc := range []struct{ doc, want string }{
		{"listen = ''\n", `x.toml:4:10: http.listen: must not be empty (leave listen out for no HTTP listener)`},
		{"listen = '9587'\n", `x.toml:4:10: http.listen: "9587" is not host:port (e.g. "127.0.0.1:9587" or ":9587")`},
		{"listen = 'localhost:70000'\n", `x.toml:4:10: http.listen: "localhost:70000": port "70000" is not a number from 0 to 65535`},
		{"listen = 'web server:80'\n", `x.toml:4:10: http.listen: "web server:80": "web server" is not an IP address or host name`},
		{"listen = 9587\n", `x.toml:4:10: http.listen: expected a string, got an integer`},
		{"metrics_token = '0123456789abcdef'\n", `x.toml:4:17: http.metrics_token: not used without listen (the address of the HTTP listener)`},
		{"listen = ':1'\nmetrics_token = 'short'\n", `x.toml:5:17: http.metrics_token: the token is shorter than 16 characters (make one with "openssl rand -hex 32")`},
		{"listen = ':1'\nmetrics_token = ''\n", `x.toml:5:17: http.metrics_token: must not be empty`},
		{"listen = ':1'\nmetrics_token_file = 'testdata/password.txt'\n", `x.toml:5:22: http.metrics_token_file: the token is shorter than 16 characters (make one with "openssl rand -hex 32")`},
		{"listen = ':1'\nmetrics_token_file = 'nope.txt'\n", `x.toml:5:22: http.metrics_token_file: cannot read metrics token file "nope.txt": no such file or directory`},
		{"listen = ':1'\nmetrics_token_env = 'JARCHIVE_TEST_EMPTY'\n", `x.toml:5:21: http.metrics_token_env: environment variable JARCHIVE_TEST_EMPTY is empty`},
		{"[http]\nlisten = ':1'\n", `x.toml:4:1: http: table defined twice (first on line 3)`},
	} {
		_, err := Parse("x.toml", []byte(head+tc.doc))
		if got := errString(err); got != tc.want {
			t.Errorf("%q:\n%s\nwant\n%s", tc.doc, got, tc.want)
		}
	}
}
