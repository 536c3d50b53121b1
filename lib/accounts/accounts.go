// Package accounts is the administrative layer over the core files and the
// Maildir store: it adds, changes and removes users, aliases and local
// domains, keeping them consistent with each other (a user's Maildir exists,
// every local domain has postmaster@ and abuse@). The CLI and any daemon
// that manages accounts go through it.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"

	"mailctl/lib/addr"
	"mailctl/lib/aliases"
	"mailctl/lib/config"
	"mailctl/lib/domains"
	"mailctl/lib/listen"
	"mailctl/lib/maildir"
	"mailctl/lib/passwd"
	"mailctl/lib/userdb"
)

// Errors a caller maps to its own terms (exit codes, replies).
var (
	ErrUserExists      = errors.New("user already exists")
	ErrNoUser          = errors.New("no such user")
	ErrDomainNotLocal  = errors.New("domain is not local")
	ErrDomainExists    = errors.New("domain already local")
	ErrNoDomain        = errors.New("no such domain in the domains file")
	ErrDomainInConfig  = errors.New("domain is listed in the configuration file")
	ErrAliasExists     = errors.New("alias already has that target")
	ErrNoAlias         = errors.New("no such alias")
	ErrNoAdmin         = errors.New("no administrator address for postmaster@ and abuse@")
	ErrRoleAddressUser = errors.New("address is reserved")
)

// RoleLocals are the addresses every local domain must receive (RFC 5321
// §4.5.1, RFC 2142).
var RoleLocals = []string{"postmaster", "abuse"}

// Manager performs account changes for one configuration.
type Manager struct {
	Config  *config.Config
	Store   *maildir.Store
	Users   *userdb.DB
	Aliases *aliases.Table
	Domains *domains.File
	log     *slog.Logger
	uid     int
	gid     int
}

// Open builds a Manager. When run as root, Maildirs and the users file are
// given to the configured mail account.
func Open(cfg *config.Config, logger *slog.Logger) (*Manager, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	uid, gid := -1, -1
	if os.Geteuid() == 0 && cfg.User != "" {
		u, g, err := listen.LookupAccount(cfg.User)
		if err != nil {
			return nil, fmt.Errorf("mail account %q (config key \"user\"): %w", cfg.User, err)
		}
		uid, gid = u, g
	}
	store, err := maildir.Open(cfg.MailDir(), maildir.Options{UID: uid, GID: gid, Hostname: cfg.Hostname, Logger: logger})
	if err != nil {
		return nil, err
	}
	return &Manager{
		Config:  cfg,
		Store:   store,
		Users:   userdb.Open(cfg.UsersFile),
		Aliases: aliases.Open(cfg.AliasesFile),
		Domains: domains.Open(cfg.DomainsFile),
		log:     logger,
		uid:     uid,
		gid:     gid,
	}, nil
}

// IsLocalDomain reports whether mail for domain is ours: listed in the
// config or added with AddDomain.
func (m *Manager) IsLocalDomain(domain string) (bool, error) {
	if slices.Contains(m.Config.Domains, domain) {
		return true, nil
	}
	return m.Domains.Contains(domain)
}

// LocalDomains lists the config's domains and the domains file's, sorted.
func (m *Manager) LocalDomains() ([]string, error) {
	file, err := m.Domains.All()
	if err != nil {
		return nil, err
	}
	all := append(slices.Clone(m.Config.Domains), file...)
	slices.Sort(all)
	return slices.Compact(all), nil
}

// NewUser describes a user to add.
type NewUser struct {
	Address  addr.Address
	Password string // hashed with argon2id
	Services userdb.Services
	Quota    int64
	// Admin receives postmaster@ and abuse@ when this is the first user of
	// a domain that has no such aliases yet; empty means the config's
	// postmaster, or else the new user.
	Admin addr.Address
}

// AddUser adds a user, creates their Maildir and makes sure the domain's
// role addresses exist.
func (m *Manager) AddUser(ctx context.Context, nu NewUser) error {
	a := nu.Address
	if !addr.PathSafe(a.Local) {
		return fmt.Errorf("%w: %q cannot be a mailbox name", ErrRoleAddressUser, a.Local)
	}
	ok, err := m.IsLocalDomain(a.Domain)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: %w (add it with \"mailctl domain add %s\")", a.Domain, ErrDomainNotLocal, a.Domain)
	}
	hash, err := passwd.Hash(nu.Password)
	if err != nil {
		return err
	}
	u := userdb.User{Address: a, Hash: hash, Services: nu.Services, Quota: nu.Quota}
	if err := userdb.Add(ctx, m.Config.UsersFile, u, m.usersOptions()); err != nil {
		if errors.Is(err, userdb.ErrExists) {
			return fmt.Errorf("%s: %w", a, ErrUserExists)
		}
		return err
	}
	if err := m.Store.CreateUser(ctx, a); err != nil {
		return fmt.Errorf("create Maildir for %s: %w", a, err)
	}
	admin := nu.Admin
	if admin.IsZero() {
		admin = a
	}
	return m.ensureRoleAliases(ctx, a.Domain, admin)
}

// ensureRoleAliases makes postmaster@ and abuse@ of domain reach admin (or
// the config's postmaster), unless they already resolve to someone.
func (m *Manager) ensureRoleAliases(ctx context.Context, domain string, admin addr.Address) error {
	if m.Config.Postmaster != "" {
		pm, err := addr.Parse(m.Config.Postmaster)
		if err != nil {
			return fmt.Errorf("config postmaster: %w", err)
		}
		admin = pm
	}
	for _, local := range RoleLocals {
		role := addr.Address{Local: local, Domain: domain}
		if role == admin {
			continue
		}
		if _, ok, err := m.Aliases.Lookup(role); err != nil {
			return err
		} else if ok {
			continue
		}
		if _, ok, err := m.Users.Lookup(role); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		} else if ok {
			continue
		}
		if admin.IsZero() {
			return fmt.Errorf("%s: %w: pass --admin or set \"postmaster\" in the config", role, ErrNoAdmin)
		}
		if err := aliases.Add(ctx, m.Config.AliasesFile, role, []addr.Address{admin}); err != nil {
			return err
		}
		m.log.Info("role address created", "alias", role.String(), "target", admin.String())
	}
	return nil
}

// RemoveUser deletes a user from the users file, and their Maildir when
// removeMail is set.
func (m *Manager) RemoveUser(ctx context.Context, a addr.Address, removeMail bool) error {
	if err := userdb.Remove(ctx, m.Config.UsersFile, a); err != nil {
		if errors.Is(err, userdb.ErrNotFound) {
			return fmt.Errorf("%s: %w", a, ErrNoUser)
		}
		return err
	}
	if removeMail {
		return m.Store.RemoveUser(ctx, a)
	}
	return nil
}

// ModifyUser changes a user in place.
func (m *Manager) ModifyUser(ctx context.Context, a addr.Address, fn func(*userdb.User) error) error {
	err := userdb.Modify(ctx, m.Config.UsersFile, a, fn)
	if errors.Is(err, userdb.ErrNotFound) {
		return fmt.Errorf("%s: %w", a, ErrNoUser)
	}
	return err
}

// SetPassword stores a new argon2id hash for a user.
func (m *Manager) SetPassword(ctx context.Context, a addr.Address, password string) error {
	hash, err := passwd.Hash(password)
	if err != nil {
		return err
	}
	return m.ModifyUser(ctx, a, func(u *userdb.User) error {
		u.Hash = hash
		return nil
	})
}

// AddDomain makes domain local and points its role addresses at admin.
func (m *Manager) AddDomain(ctx context.Context, domain string, admin addr.Address) error {
	if slices.Contains(m.Config.Domains, domain) {
		return fmt.Errorf("%s: %w", domain, ErrDomainExists)
	}
	if admin.IsZero() && m.Config.Postmaster == "" {
		return fmt.Errorf("%s: %w: pass --admin ADDRESS or set \"postmaster\" in the config", domain, ErrNoAdmin)
	}
	if err := domains.Add(ctx, m.Config.DomainsFile, domain); err != nil {
		if errors.Is(err, domains.ErrExists) {
			return fmt.Errorf("%s: %w", domain, ErrDomainExists)
		}
		return err
	}
	return m.ensureRoleAliases(ctx, domain, admin)
}

// RemoveDomain removes a domain added with AddDomain. Users and aliases of
// the domain are left in place (and stop receiving mail).
func (m *Manager) RemoveDomain(ctx context.Context, domain string) error {
	err := domains.Remove(ctx, m.Config.DomainsFile, domain)
	switch {
	case errors.Is(err, domains.ErrNotFound) && slices.Contains(m.Config.Domains, domain):
		return fmt.Errorf("%s: %w: edit the config to remove it", domain, ErrDomainInConfig)
	case errors.Is(err, domains.ErrNotFound):
		return fmt.Errorf("%s: %w", domain, ErrNoDomain)
	}
	return err
}

func (m *Manager) usersOptions() userdb.UpdateOptions {
	return userdb.UpdateOptions{GID: m.gid}
}

// AddAlias adds targets to the alias a (Local == "" for the catch-all).
func (m *Manager) AddAlias(ctx context.Context, a addr.Address, targets []addr.Address) error {
	ok, err := m.IsLocalDomain(a.Domain)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: %w", a.Domain, ErrDomainNotLocal)
	}
	err = aliases.Add(ctx, m.Config.AliasesFile, a, targets)
	if errors.Is(err, aliases.ErrExists) {
		return fmt.Errorf("%s: %w", a, ErrAliasExists)
	}
	return err
}

// RemoveAlias removes targets from an alias, or the whole alias when none
// are given.
func (m *Manager) RemoveAlias(ctx context.Context, a addr.Address, targets []addr.Address) error {
	err := aliases.Remove(ctx, m.Config.AliasesFile, a, targets...)
	if errors.Is(err, aliases.ErrNotFound) {
		return fmt.Errorf("%s: %w", a, ErrNoAlias)
	}
	return err
}
