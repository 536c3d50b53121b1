package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"mailctl/lib/accounts"
	"mailctl/lib/addr"
)

// accounts opens the account manager for the loaded configuration.
func (g *globals) accounts() (*accounts.Manager, error) {
	cfg, err := g.config()
	if err != nil {
		return nil, err
	}
	m, err := accounts.Open(cfg, g.logger)
	if err != nil {
		return nil, withCode(exitConfig, err)
	}
	return m, nil
}

// parseAddress parses a command-line address (exit 65 when invalid).
func parseAddress(s string) (addr.Address, error) {
	a, err := addr.Parse(s)
	if err != nil {
		return addr.Address{}, withCode(exitDataErr, fmt.Errorf("invalid address: %w", err))
	}
	return a, nil
}

// accountError maps account errors to exit codes.
func accountError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, accounts.ErrUserExists), errors.Is(err, accounts.ErrDomainExists), errors.Is(err, accounts.ErrAliasExists):
		return withCode(exitCantCreat, err)
	case errors.Is(err, accounts.ErrNoUser), errors.Is(err, accounts.ErrNoAlias), errors.Is(err, accounts.ErrNoDomain):
		return withCode(exitNoUser, err)
	case errors.Is(err, accounts.ErrDomainNotLocal):
		return withCode(exitNoHost, err)
	case errors.Is(err, accounts.ErrNoAdmin), errors.Is(err, accounts.ErrRoleAddressUser), errors.Is(err, accounts.ErrDomainInConfig):
		return withCode(exitDataErr, err)
	}
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
