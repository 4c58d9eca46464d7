package api

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/p-kernel/p-kernel/abi"
)

// localOnly refuses, on a TCP listener, the requests that a web page from
// elsewhere could make a browser send to the loopback API: a Host that is
// not a loopback name (DNS rebinding: a site whose name resolves to
// 127.0.0.1) and an Origin other than the API's own (cross-site requests,
// which a browser sends without asking for simple POSTs). The CLI and
// other programs send neither problem; the unix socket is left alone (no
// browser reaches it).
func localOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && la.Network() == "tcp" {
			if err := checkLocal(r); err != nil {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				fmt.Fprintf(w, "{\"error\": %q, \"code\": %q}\n", err.Error(), abi.EPERM.Name())
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

func checkLocal(r *http.Request) error {
	if !loopbackHost(r.Host) {
		return fmt.Errorf("host %q is not a loopback address: the API answers only requests addressed to 127.0.0.1, ::1 or localhost", r.Host)
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host || (u.Scheme != "http" && u.Scheme != "https") {
			return fmt.Errorf("origin %q: the API answers only its own pages", o)
		}
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return fmt.Errorf("a cross-site request: the API answers only its own pages")
	}
	return nil
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
