package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/emersion/go-sasl"

	"mailctl/lib/userdb"
)

// Mechanisms are the SASL mechanisms SASLServer offers.
var Mechanisms = []string{sasl.Plain, sasl.Login}

// ErrMechanism is returned for a mechanism we don't offer.
var ErrMechanism = errors.New("auth: unsupported SASL mechanism")

// SASLServer returns a server for mech that checks the credentials with
// Check and calls done with the user on success.
func (a *Authenticator) SASLServer(ctx context.Context, mech string, remote netip.Addr, service userdb.Service, done func(userdb.User)) (sasl.Server, error) {
	check := func(identity, username, password string) error {
		if identity != "" && identity != username {
			return fmt.Errorf("%w: authorization identity differs from the user", ErrInvalid)
		}
		u, err := a.Check(ctx, remote, username, password, service)
		if err != nil {
			return err
		}
		if done != nil {
			done(u)
		}
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(check), nil
	case sasl.Login:
		return NewLoginServer(func(username, password string) error { return check("", username, password) }), nil
	}
	return nil, fmt.Errorf("%w: %s", ErrMechanism, mech)
}

// loginServer is the server side of the obsolete but widespread LOGIN
// mechanism (draft-murchison-sasl-login): the server asks "Username:" and
// "Password:", the client answers each. go-sasl has no server for it.
type loginServer struct {
	authenticate func(username, password string) error
	step         int
	username     string
}

// NewLoginServer returns a LOGIN mechanism server.
func NewLoginServer(authenticate func(username, password string) error) sasl.Server {
	return &loginServer{authenticate: authenticate}
}

func (s *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch s.step {
	case 0:
		s.step = 1
		if len(response) == 0 { // no initial response: ask for the user
			return []byte("Username:"), false, nil
		}
		s.username = string(response)
		s.step = 2
		return []byte("Password:"), false, nil
	case 1:
		s.username = string(response)
		s.step = 2
		return []byte("Password:"), false, nil
	case 2:
		s.step = 3
		return nil, true, s.authenticate(s.username, string(response))
	}
	return nil, true, errors.New("sasl: LOGIN exchange already finished")
}
