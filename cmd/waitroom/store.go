package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"

	"github.com/waitroom/waitroom/admission"
	"github.com/waitroom/waitroom/admission/inmem"
	"github.com/waitroom/waitroom/admission/redis"
	"github.com/waitroom/waitroom/config"
)

// openStore returns the store the configuration names: Redis when
// redis.addrs is set, else the embedded in-memory store.
func openStore(c config.Redis, clock admission.Clock, release admission.ReleaseOptions, log *slog.Logger) (admission.Store, error) {
	if len(c.Addrs) == 0 {
		s := inmem.New()
		s.Now, s.Release = clock.Now, release
		return s, nil
	}
	o := redis.Options{Addrs: c.Addrs, MasterName: c.MasterName, Username: c.Username, Password: c.Password, DB: c.DB,
		Clock: clock, Release: release, Logger: log}
	if c.TLS {
		o.TLS = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLSServerName}
		if c.TLSCAFile != "" {
			pem, err := os.ReadFile(c.TLSCAFile)
			if err != nil {
				return nil, fmt.Errorf("redis.tls_ca_file: %w", err)
			}
			o.TLS.RootCAs = x509.NewCertPool()
			if !o.TLS.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("redis.tls_ca_file: no certificate in %s", c.TLSCAFile)
			}
		}
	}
	return redis.New(o)
}
