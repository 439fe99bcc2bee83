// Package loopback provides the listener helpers that the benchmark
// programs share. Every benchmark server listens on a loopback address only, and
// run.sh scripts learn a started server's address from a file.
package loopback

import (
	"errors"
	"fmt"
	"net"
	"os"
)

// Check returns an error unless addr is host:port with a loopback IP
// address as host. A host name such as localhost is rejected, because it
// could resolve to another address.
func Check(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("address %q is not a loopback IP address", addr)
	}
	return nil
}

// Listen listens on TCP addr after Check accepts it.
func Listen(addr string) (net.Listener, error) {
	if err := Check(addr); err != nil {
		return nil, err
	}
	return net.Listen("tcp", addr)
}

// FreePort returns a port the kernel just assigned on 127.0.0.1. Another
// process may take it before the caller binds it, so a script that uses
// it fails when its server starts and can be run again.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// WriteAddrFile writes addr and a newline to path, for a run.sh script
// that waits for the file. The file appears complete or not at all,
// because it is renamed into place.
func WriteAddrFile(path, addr string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(addr+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Join(err, os.Remove(tmp))
	}
	return nil
}
