// Command kinline-provision creates and manages Kinline's identities: the
// certificate authority, central's server certificate and policy-signing
// key, each appliance's client certificate, event-signing key and
// recording key (recordings are encrypted at rest with it), and the
// revocation list the broker checks.
//
// Usage:
//
//	kinline-provision init      [-dir pki] -host central.example,10.0.0.5
//	kinline-provision server    [-dir pki] -host NAMES     re-issue central's certificate
//	kinline-provision appliance [-dir pki] -id block-a-1 [-force]
//	kinline-provision revoke    [-dir pki] -id block-a-1
//	kinline-provision list      [-dir pki]
//	kinline-provision mosquitto [-dir pki]              rewrite mosquitto-dynsec.json
//
// Every file is PEM. The directory holds:
//
//	ca.pem ca.key crl.pem                the CA (keep ca.key offline) and its CRL
//	central/server.pem server.key        central's TLS certificate (CN kinline-central)
//	central/policy.key policy.pub        central's ed25519 policy-signing key
//	appliances/<id>/client.pem client.key  the appliance's TLS certificate (CN = id)
//	appliances/<id>/event.key event.pub    its ed25519 event-signing key
//	appliances/<id>/recording.key          its AES-256 recording key (32 raw bytes)
//	appliances/<id>/ca.pem policy.pub      copies it needs to trust central
//	mosquitto-dynsec.json                 Mosquitto's dynamic-security rules:
//	                                      central, and each valid appliance
//	                                      confined to its own topics
//
// Exit status: 0 done, 1 error, 2 usage error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/version"
)

func main() {
	if version.Handle("kinline-provision", os.Args[1:], os.Stdout) {
		return
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, clock.Real{}))
}

const usage = `usage: kinline-provision COMMAND [-dir DIR] [flags]

Creates Kinline's CA, central's server certificate and policy-signing key,
and one client certificate, event-signing key and recording key per
appliance; revokes them.
All files are PEM under -dir (default ./pki).

Permissions: DIR and DIR/central are 0750, central/server.key 0640 (an
external Mosquitto and central both use it), every other private key 0600
and DIR/appliances 0700. Give the directory to central's user and the
broker's group, so that Mosquitto reads ca.pem, crl.pem and central's
server certificate and key through the group and nothing else:
  chown -R kinline:mosquitto /etc/kinline/pki
Central refuses a key that others may read or its group may write.

Commands:
  init      -host NAMES       create the CA, an empty revocation list (crl.pem),
                              central's server certificate for NAMES (comma-
                              separated DNS names and IPs) and central's
                              policy-signing key
  server    -host NAMES       re-issue central's server certificate (new names
                              or renewal)
  appliance -id ID [-force]   issue appliance ID's certificate (CN=ID, 2 years),
                              event-signing key and recording key (its
                              recording.key_file) in DIR/appliances/ID/;
                              -force replaces them (keeping the recording key,
                              which its stored recordings need) and revokes
                              the old certificate
  revoke    -id ID            add ID's certificate to crl.pem; the broker
                              rereads it on the next connection
  list                        appliances, serials, expiry, revoked or not
  mosquitto                   rewrite DIR/mosquitto-dynsec.json (init, appliance
                              and revoke keep it up to date): an external
                              Mosquitto's dynamic-security rules, each valid
                              appliance confined to its own topics

Typical use:
  kinline-provision init -host central.prison.example,10.0.0.5
  kinline-provision appliance -id block-a-1
  then copy pki/appliances/block-a-1/ to that appliance (it holds its private
  keys: use a secure channel), and give central pki/central/ and ca.pem, crl.pem.

Run "kinline-provision COMMAND -h" for a command's flags.
`

func run(args []string, stdout, stderr io.Writer, clk clock.Clock) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fs := flag.NewFlagSet("kinline-provision "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "pki", "the PKI directory")
	var hosts, id *string
	var force *bool
	switch cmd {
	case "init", "server":
		hosts = fs.String("host", "", "central's DNS names and IP addresses, comma-separated (the name "+centralCN+" is always included)")
	case "appliance":
		id = fs.String("id", "", "the appliance id: 1-64 characters of A-Z a-z 0-9 . _ -")
		force = fs.Bool("force", false, "replace an existing appliance and revoke its old certificate")
	case "revoke":
		id = fs.String("id", "", "the appliance whose certificate to revoke")
	case "list", "mosquitto":
	default:
		fmt.Fprintf(stderr, "kinline-provision: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: kinline-provision %s [flags]\n", cmd)
		fs.PrintDefaults()
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "kinline-provision %s: unexpected arguments %q\n", cmd, fs.Args())
		fs.Usage()
		return 2
	}
	if id != nil && *id == "" {
		fmt.Fprintf(stderr, "kinline-provision %s: -id is required\n", cmd)
		fs.Usage()
		return 2
	}
	p := &PKI{Dir: *dir, Clock: clk}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "kinline-provision %s: %v\n", cmd, err)
		return 1
	}

	switch cmd {
	case "mosquitto":
		if err := p.WriteDynsec(); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, `wrote %[1]s/%[2]s; copy it to the broker (plugin_opt_config_file of
mosquitto.conf) and restart Mosquitto: the dynamic-security plugin reads it at start
`, *dir, fileDynsec)
	case "init":
		if err := p.Init(splitHosts(*hosts)); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, `created the Kinline CA in %[1]s
  %[1]s/ca.pem, ca.key (keep ca.key offline: whoever has it can mint appliances)
  %[1]s/crl.pem (empty revocation list)
  %[1]s/central/server.pem, server.key (central's TLS certificate)
  %[1]s/central/policy.key, policy.pub (central's policy-signing key)
next: kinline-provision appliance -dir %[1]s -id ID, once per appliance
`, *dir)
	case "server":
		if err := p.ReissueServer(splitHosts(*hosts)); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "issued a new %s/central/server.pem; restart central to use it\n", *dir)
	case "appliance":
		cert, err := p.IssueAppliance(*id, *force)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, `issued appliance %[2]q: serial %[3]s, valid until %[4]s
next: copy %[1]s/appliances/%[2]s/ to the appliance over a secure channel (it holds
its private keys client.key, event.key and recording.key: set the appliance's
recording.key_file to recording.key); central verifies its events with
%[1]s/appliances/%[2]s/event.pub
`, *dir, *id, serialHex(cert.SerialNumber), cert.NotAfter.UTC().Format("2006-01-02"))
	case "revoke":
		serial, err := p.Revoke(*id)
		if errors.Is(err, ErrExists) {
			fmt.Fprintf(stdout, "appliance %q (serial %s) was already revoked\n", *id, serialHex(serial))
			return 0
		}
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, `revoked appliance %q: serial %s is in %s/crl.pem, and its event key is
retired (event.pub renamed event.pub.revoked): central refuses batches signed
with it from now on. The broker refuses the certificate from its next connection
once it reads this crl.pem (copy it, and the appliances/ folder, to central if
central runs elsewhere); provision a replacement with
kinline-provision appliance -id %s -force
`, *id, serialHex(serial), *dir, *id)
	case "list":
		rows, number, err := p.List()
		if err != nil {
			return fail(err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "APPLIANCE\tSERIAL\tEXPIRES\tSTATUS\tEVENT KEY")
		for _, r := range rows {
			if r.Serial == nil {
				fmt.Fprintf(tw, "%s\t-\t-\tbroken: %v\t-\n", r.ID, r.Err)
				continue
			}
			status := "valid"
			switch {
			case r.Revoked:
				status = "revoked"
			case r.Expired:
				status = "expired"
			}
			key := r.EventKey
			if r.Err != nil {
				key = "broken: " + r.Err.Error()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, serialHex(r.Serial), r.NotAfter.UTC().Format("2006-01-02"), status, key)
		}
		tw.Flush()
		fmt.Fprintf(stdout, "%d appliance(s); revocation list number %s\n", len(rows), number)
	}
	switch cmd {
	case "init", "appliance", "revoke":
		// Every change of the PKI rewrites the broker's rules after it.
		if err := p.WriteDynsec(); err != nil {
			return fail(fmt.Errorf("the PKI changed but %s could not be rewritten (run kinline-provision mosquitto): %w", fileDynsec, err))
		}
	}
	return 0
}

func splitHosts(s string) []string {
	var out []string
	for _, h := range strings.Split(s, ",") {
		if h = strings.TrimSpace(h); h != "" {
			out = append(out, h)
		}
	}
	return out
}
