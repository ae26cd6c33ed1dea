// Package firmware holds how the appliance is built and shipped to ARM
// boards: `make -C firmware images` cross-compiles static kinline-appliance
// binaries for linux/arm64 and linux/armv7 and packs each with its systemd
// unit (systemd/kinline-appliance.service) and an example config.
// systemd/kinline-central.service runs central as a hardened service with
// its own user and data directory (installation steps in its header). It
// has no Go code of its own; this file documents the directory for `go doc`,
// and systemd_test.go checks both units.
package firmware
