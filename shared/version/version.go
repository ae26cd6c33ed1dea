// Package version names the build of a Kinline binary: the release set at
// build time, the protocol and capability versions it speaks (shared/wire)
// and the Go toolchain. Every command prints it for -version, central
// serves it on GET /api/v1/version and appliances report it to central in
// their status events.
//
// The release is set by the linker:
//
//	go build -ldflags "-X github.com/kinline/kinline/shared/version.Version=$(git describe --always --dirty)" ./...
//
// (the Makefile's build and cross targets do this). Without it, the VCS
// revision Go records in the binary stands in (runtime/debug.ReadBuildInfo,
// "+dirty" when the tree had changes), and "dev" when there is none
// (go run, tests).
package version

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kinline/kinline/shared/wire"
)

// Version is the release, set with -ldflags -X; empty means unset.
var Version string

// MaxLen bounds the release String returns, well within what central
// accepts in a status (wire.MaxIDLen), so that no -ldflags value can make
// an appliance's status events invalid.
const MaxLen = 64

// String is the release: Version (control characters dropped, at most
// MaxLen bytes), else the VCS revision recorded in the binary, else "dev".
func String() string {
	if v := clean(Version); v != "" {
		return v
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	return fromBuildInfo(info)
}

func clean(v string) string {
	v = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, v))
	for len(v) > MaxLen {
		_, n := utf8.DecodeLastRuneInString(v)
		v = v[:len(v)-n]
	}
	return v
}

func fromBuildInfo(info *debug.BuildInfo) string {
	var rev string
	var dirty bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "+dirty"
	}
	return rev
}

// Info is what a build is, as the API serves it.
type Info struct {
	Version           string `json:"version"`
	ProtocolVersion   int    `json:"protocol_version"`
	BatchVersion      int    `json:"batch_version"`
	MinBatchVersion   int    `json:"min_batch_version"`
	CapabilityVersion int    `json:"capability_version"`
	Go                string `json:"go"`
}

// Get is this build's Info.
func Get() Info {
	return Info{
		Version:           String(),
		ProtocolVersion:   wire.ProtocolVersion,
		BatchVersion:      wire.BatchVersion,
		MinBatchVersion:   wire.MinBatchVersion,
		CapabilityVersion: int(wire.CurrentCapabilityVersion),
		Go:                runtime.Version(),
	}
}

// Line is the one line a command prints for -version.
func Line(command string) string {
	i := Get()
	return fmt.Sprintf("%s %s (protocol %d, batches %d-%d, capability %d, %s %s/%s)",
		command, i.Version, i.ProtocolVersion, i.MinBatchVersion, i.BatchVersion, i.CapabilityVersion,
		i.Go, runtime.GOOS, runtime.GOARCH)
}

// Requested reports whether args (a command's arguments, without the
// program name) ask for the version: -version or --version anywhere
// before a "--".
func Requested(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-version", "--version":
			return true
		}
	}
	return false
}

// Handle prints command's version line to w and reports true when args
// ask for it; main then exits 0.
func Handle(command string, args []string, w io.Writer) bool {
	if !Requested(args) {
		return false
	}
	fmt.Fprintln(w, Line(command))
	return true
}
