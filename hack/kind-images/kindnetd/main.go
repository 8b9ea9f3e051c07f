// Command kindnetd stands in for kind's own kindnetd (docker.io/kindest/kindnetd) on
// machines without a registry. kind's source for it (the nested module
// sigs.k8s.io/kind/images/kindnetd, and the kube-network-policies version it needs)
// is not served by the Go module proxy, so hack/kind-images.sh builds this instead,
// under kind's tag, from the standard library alone. It does the three things a kind
// cluster needs of kindnetd, read from kind's manifest (pkg/build/nodeimage):
//
//   - writes this node's CNI config (ptp over host-local IPAM on the node's
//     podCIDRs, then portmap) to /etc/cni/net.d/10-kindnet.conflist, which makes the
//     node Ready;
//   - routes every other node's podCIDRs via that node's InternalIP;
//   - masquerades pod traffic that leaves the cluster's pod subnets (POD_SUBNET),
//     never pod-to-pod traffic.
//
// It does not enforce NetworkPolicies (kind's kindnetd does, with
// kube-network-policies) nor act as an NRI plugin. Environment, as kind's manifest
// sets it: HOST_IP, POD_SUBNET (comma-separated CIDRs) and CONTROL_PLANE_ENDPOINT
// (host:port, added by `kind create cluster`; without it, or when it does not
// answer, the in-cluster Service address). iptables and ip come from the image.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const (
	cniConfigPath = "/etc/cni/net.d/10-kindnet.conflist"
	saDir         = "/var/run/secrets/kubernetes.io/serviceaccount"
	masqChain     = "KIND-MASQ-AGENT"
	interval      = 10 * time.Second
)

type node struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		PodCIDR  string   `json:"podCIDR"`
		PodCIDRs []string `json:"podCIDRs"`
	} `json:"spec"`
	Status struct {
		Addresses []struct {
			Type    string `json:"type"`
			Address string `json:"address"`
		} `json:"addresses"`
	} `json:"status"`
}

func (n *node) internalIPs() []string {
	var ips []string
	for _, a := range n.Status.Addresses {
		if a.Type == "InternalIP" {
			ips = append(ips, a.Address)
		}
	}
	return ips
}

func (n *node) podCIDRs() []string {
	if len(n.Spec.PodCIDRs) > 0 {
		return n.Spec.PodCIDRs
	}
	if n.Spec.PodCIDR != "" {
		return []string{n.Spec.PodCIDR}
	}
	return nil
}

func isIPv6(s string) bool {
	ip, _, err := net.ParseCIDR(s)
	if err != nil {
		ip = net.ParseIP(s)
	}
	return ip != nil && ip.To4() == nil
}

// apiClient lists nodes with the pod's service account token, re-read on every
// call because bound tokens are rotated.
type apiClient struct {
	base string
	http *http.Client
}

func newAPIClient() (*apiClient, error) {
	ca, err := os.ReadFile(filepath.Join(saDir, "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, errors.New("no certificate in " + filepath.Join(saDir, "ca.crt"))
	}
	hc := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
	host := net.JoinHostPort(os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT"))
	// The control plane's own address works before kube-proxy has programmed the
	// Service address; kind passes it for that reason.
	if ep := os.Getenv("CONTROL_PLANE_ENDPOINT"); ep != "" {
		for i := 0; i < 5; i++ {
			c, err := net.DialTimeout("tcp", ep, time.Second)
			if err == nil {
				_ = c.Close()
				host = ep
				break
			}
			log.Printf("control plane endpoint %s not reachable yet (%v), attempt %d of 5", ep, err, i+1)
			time.Sleep(time.Duration(i) * time.Second)
		}
	}
	return &apiClient{base: "https://" + host, http: hc}, nil
}

func (c *apiClient) nodes(ctx context.Context) ([]node, error) {
	token, err := os.ReadFile(filepath.Join(saDir, "token"))
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/v1/nodes", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/api/v1/nodes: %s", c.base, resp.Status)
	}
	var list struct {
		Items []node `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, fmt.Errorf("decoding the node list: %w", err)
	}
	return list.Items, nil
}

// cniConfig renders the conflist for this node's pod CIDRs.
func cniConfig(podCIDRs []string, mtu int) ([]byte, error) {
	type route struct {
		Dst string `json:"dst"`
	}
	type subnet struct {
		Subnet string `json:"subnet"`
	}
	var ranges [][]subnet
	var routes []route
	seen := map[string]bool{}
	for _, cidr := range podCIDRs {
		ranges = append(ranges, []subnet{{cidr}})
		dst := "0.0.0.0/0"
		if isIPv6(cidr) {
			dst = "::/0"
		}
		if !seen[dst] {
			seen[dst] = true
			routes = append(routes, route{dst})
		}
	}
	ptp := map[string]any{
		"type":   "ptp",
		"ipMasq": false,
		"ipam": map[string]any{
			"type":    "host-local",
			"dataDir": "/run/cni-ipam-state",
			"routes":  routes,
			"ranges":  ranges,
		},
	}
	if mtu > 0 {
		ptp["mtu"] = mtu
	}
	conf := map[string]any{
		"cniVersion": "0.3.1",
		"name":       "kindnet",
		"plugins": []any{
			ptp,
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// writeCNIConfig writes the file only when its content changes, through a name
// that the runtime ignores, then a rename, so it never sees half a file.
func writeCNIConfig(podCIDRs []string, mtu int) error {
	data, err := cniConfig(podCIDRs, mtu)
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(cniConfigPath); err == nil && bytes.Equal(old, data) {
		return nil
	}
	tmp := cniConfigPath + ".temp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, cniConfigPath); err != nil {
		return err
	}
	log.Printf("wrote %s for pod CIDRs %v", cniConfigPath, podCIDRs)
	return nil
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// masq keeps one nat chain per IP family: RETURN for the pod subnets, MASQUERADE
// for the rest, entered from POSTROUTING for every non-local destination.
type masq struct {
	iptables string // iptables or ip6tables
	subnets  []string
}

func (m *masq) rules() [][]string {
	var r [][]string
	for _, s := range m.subnets {
		r = append(r, []string{"-d", s, "-m", "comment", "--comment", "kindnetd: pod to pod is not masqueraded", "-j", "RETURN"})
	}
	return append(r, []string{"-m", "comment", "--comment", "kindnetd: leaving the pod subnets is masqueraded", "-j", "MASQUERADE"})
}

var postroutingJump = []string{"-m", "addrtype", "!", "--dst-type", "LOCAL", "-m", "comment", "--comment", "kindnetd: non-local destinations go through " + masqChain, "-j", masqChain}

func (m *masq) sync() error {
	intact := run(m.iptables, "-w", "5", "-t", "nat", "-S", masqChain) == nil
	for _, r := range m.rules() {
		if !intact {
			break
		}
		intact = run(m.iptables, append([]string{"-w", "5", "-t", "nat", "-C", masqChain}, r...)...) == nil
	}
	if !intact {
		// A chain declared to iptables-restore --noflush is created or flushed, then
		// filled, in one commit: the RETURN rules always come before MASQUERADE.
		var b strings.Builder
		b.WriteString("*nat\n:" + masqChain + " - [0:0]\n")
		for _, r := range m.rules() {
			b.WriteString("-A " + masqChain)
			for _, a := range r {
				if strings.Contains(a, " ") {
					a = `"` + a + `"`
				}
				b.WriteString(" " + a)
			}
			b.WriteString("\n")
		}
		b.WriteString("COMMIT\n")
		cmd := exec.Command(m.iptables+"-restore", "-w", "5", "--noflush")
		cmd.Stdin = strings.NewReader(b.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s-restore: %w: %s", m.iptables, err, strings.TrimSpace(string(out)))
		}
		log.Printf("%s: nat chain %s set for pod subnets %v", m.iptables, masqChain, m.subnets)
	}
	if run(m.iptables, append([]string{"-w", "5", "-t", "nat", "-C", "POSTROUTING"}, postroutingJump...)...) != nil {
		if err := run(m.iptables, append([]string{"-w", "5", "-t", "nat", "-A", "POSTROUTING"}, postroutingJump...)...); err != nil {
			return err
		}
		log.Printf("%s: POSTROUTING jumps to %s", m.iptables, masqChain)
	}
	return nil
}

// reconciler remembers the routes it set, to log changes only.
type reconciler struct {
	hostIP string
	mtu    int
	routes map[string]string // pod CIDR -> gateway
}

func (r *reconciler) reconcile(nodes []node) error {
	var errs []error
	for i := range nodes {
		n := &nodes[i]
		ips := n.internalIPs()
		cidrs := n.podCIDRs()
		self := false
		for _, ip := range ips {
			self = self || ip == r.hostIP
		}
		if self {
			if len(cidrs) == 0 {
				log.Printf("this node %s has no pod CIDR yet", n.Metadata.Name)
				continue
			}
			errs = append(errs, writeCNIConfig(cidrs, r.mtu))
			continue
		}
		for _, cidr := range cidrs {
			gw := ""
			for _, ip := range ips {
				if isIPv6(ip) == isIPv6(cidr) {
					gw = ip
				}
			}
			if gw == "" {
				continue
			}
			// `ip route replace` adds the route or corrects its gateway.
			if err := run("ip", "route", "replace", cidr, "via", gw); err != nil {
				errs = append(errs, err)
				continue
			}
			if r.routes[cidr] != gw {
				log.Printf("route %s via %s (node %s)", cidr, gw, n.Metadata.Name)
				r.routes[cidr] = gw
			}
		}
	}
	return errors.Join(errs...)
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	hostIP := os.Getenv("HOST_IP")
	podSubnet := strings.TrimSpace(os.Getenv("POD_SUBNET"))
	if hostIP == "" || podSubnet == "" {
		log.Fatal("HOST_IP and POD_SUBNET must be set (kind's manifest sets both)")
	}
	var v4, v6 []string
	for _, s := range strings.Split(podSubnet, ",") {
		s = strings.TrimSpace(s)
		if _, _, err := net.ParseCIDR(s); err != nil {
			log.Fatalf("POD_SUBNET %q: %v", podSubnet, err)
		}
		if isIPv6(s) {
			v6 = append(v6, s)
		} else {
			v4 = append(v4, s)
		}
	}
	var masqs []*masq
	if len(v4) > 0 {
		masqs = append(masqs, &masq{"iptables", v4})
	}
	if len(v6) > 0 {
		masqs = append(masqs, &masq{"ip6tables", v6})
	}
	mtu := 0
	if eth0, err := net.InterfaceByName("eth0"); err == nil {
		mtu = eth0.MTU
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	api, err := newAPIClient()
	if err != nil {
		log.Fatalf("in-cluster API access: %v", err)
	}
	log.Printf("kindnetd (graceproof): API %s, host IP %s, pod subnets %s, mtu %d", api.base, hostIP, podSubnet, mtu)
	r := &reconciler{hostIP: hostIP, mtu: mtu, routes: map[string]string{}}
	// Like kind's: give up (and let the kubelet restart the container) after a few
	// failed rounds in a row, so a persistent error is visible as restarts.
	failures := 0
	for {
		var errs []error
		for _, m := range masqs {
			errs = append(errs, m.sync())
		}
		if nodes, err := api.nodes(ctx); err != nil {
			errs = append(errs, err)
		} else {
			errs = append(errs, r.reconcile(nodes))
		}
		if err := errors.Join(errs...); err != nil {
			failures++
			log.Printf("round failed (%d in a row): %v", failures, err)
			if failures >= 6 {
				log.Fatalf("giving up after %d failed rounds", failures)
			}
		} else {
			failures = 0
		}
		select {
		case <-ctx.Done():
			log.Print("stopping")
			return
		case <-time.After(interval):
		}
	}
}
