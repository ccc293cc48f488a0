// Package gitea is the forge adapter for Gitea and Forgejo: webhook
// verification and parsing, and an API client over code.gitea.io/sdk/gitea.
//
// The token's user (the Sluice bot) needs the token scopes
// write:repository, write:issue, read:user and read:organization, and must
// be an administrator of each repository (a collaborator with the
// Administrator role, or in an organisation team with admin access): Gitea
// lets only repository administrators read other users' permission, which
// the gate needs. In an organisation it must also see the members of the
// teams that give access to the repository (whose write access Permission
// reads) and of the teams that approval rules name: an owner of the
// organisation, or a member of each such team. See docs/forges/gitea.md.
package gitea

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/sluicehq/sluice/internal/forge"
)

// commentLimit is the comment size Sluice keeps to. Gitea stores comments
// in unbounded text columns and its API sets no limit; 65536 bytes is
// GitHub's limit and keeps a comment readable.
const commentLimit = 65536

// pageSize is the page size asked for; the server may cap it (its
// [api] MAX_RESPONSE_ITEMS, 50 by default), and paging follows what it
// answers.
const pageSize = 50

// maxPages guards paging against a server that never stops answering.
const maxPages = 10000

// defaultWIPPrefixes are Gitea's default [repository.pull-request]
// WORK_IN_PROGRESS_PREFIXES, which mark a pull request as a draft.
var defaultWIPPrefixes = []string{"WIP:", "[WIP]"}

// Client is a Gitea (or Forgejo) server seen through one token.
type Client struct {
	base  string // without the trailing slash
	token string
	http  *http.Client
	wip   []string

	mu sync.Mutex
	me *sdk.User // the token's user, once known
}

var _ forge.Forge = (*Client)(nil)

// Option configures a Client.
type Option func(*Client)

// WithWorkInProgressPrefixes sets the title prefixes that mark a draft,
// when the server's [repository.pull-request] WORK_IN_PROGRESS_PREFIXES
// differ from the default "WIP:" and "[WIP]". Webhook parsing uses them to
// tell a draft ↔ ready change from another title edit.
func WithWorkInProgressPrefixes(prefixes ...string) Option {
	return func(c *Client) { c.wip = prefixes }
}

// New returns a client of the server at baseURL (https://gitea.example.com,
// or with a sub-path) acting with token. It makes no request.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("gitea URL %q: want an http(s) URL such as https://gitea.example.com", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("gitea URL %q: want no query or fragment", baseURL)
	}
	if token == "" {
		return nil, errors.New("gitea token is empty: create one for the Sluice bot user (see docs/forges/gitea.md)")
	}
	c := &Client{
		base:  strings.TrimRight(u.String(), "/"),
		token: token,
		http:  &http.Client{Timeout: 30 * time.Second},
		wip:   defaultWIPPrefixes,
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Name is "gitea", for Forgejo too.
func (c *Client) Name() string { return "gitea" }

// CommentLimit is 65536 bytes: Gitea has no small limit of its own.
func (c *Client) CommentLimit() int { return commentLimit }

// CloneURL is the repository's HTTP(S) clone URL.
func (c *Client) CloneURL(repo string) string { return c.base + "/" + repo + ".git" }

// CloneAuth is the basic-auth pair git uses: Gitea and Forgejo take any
// user name ("sluice") with the token as the password.
func (c *Client) CloneAuth() (username, token string) { return "sluice", c.token }

// api returns an SDK client bound to ctx. The SDK keeps one context per
// client, so each call gets its own: a cheap struct that makes no request,
// since the SDK's server version check is off (it would cost a request
// per client, and Forgejo's versions do not compare with Gitea's). Every
// endpoint Sluice uses exists in current Gitea and Forgejo; the tests run
// against Gitea 1.26.
func (c *Client) api(ctx context.Context) *sdk.Client {
	api, err := sdk.NewClient(c.base,
		sdk.SetGiteaVersion(""),
		sdk.SetHTTPClient(c.http),
		sdk.SetToken(c.token),
		sdk.SetUserAgent("sluice"),
		sdk.SetContext(ctx),
	)
	if err != nil { // only the version check can fail, and it is off
		panic(fmt.Sprintf("gitea: building the API client: %v", err))
	}
	return api
}

// splitRepo splits "owner/name".
func splitRepo(repo string) (owner, name string, err error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("gitea repository %q: want owner/name", repo)
	}
	return owner, name, nil
}

// failed wraps an API error with what was being done; a 404 also wraps
// forge.ErrNotFound.
func failed(what string, resp *sdk.Response, err error) error {
	if resp != nil && resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%s on gitea: %w: %w", what, forge.ErrNotFound, err)
	}
	if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
		return fmt.Errorf("%s on gitea: the token was refused (%d; check its scopes write:repository, write:issue, read:user and the bot's access to the repository): %w",
			what, resp.StatusCode, err)
	}
	if resp != nil {
		return fmt.Errorf("%s on gitea: HTTP %d: %w", what, resp.StatusCode, err)
	}
	return fmt.Errorf("%s on gitea: %w", what, err)
}

// all pages through a list call until the server has nothing more. Gitea
// announces further pages with a Link header on some lists and only with
// X-Total-Count on others; lists it does not page (issue comments) answer
// everything at once, with a total that ends the loop.
func all[T any](fetch func(sdk.ListOptions) ([]T, *sdk.Response, error)) ([]T, *sdk.Response, error) {
	var out []T
	for page := 1; page <= maxPages; {
		items, resp, err := fetch(sdk.ListOptions{Page: page, PageSize: pageSize})
		if err != nil {
			return nil, resp, err
		}
		out = append(out, items...)
		if len(items) == 0 || resp == nil {
			return out, resp, nil
		}
		if resp.NextPage > page {
			page = resp.NextPage
			continue
		}
		total, err := strconv.Atoi(resp.Header.Get("X-Total-Count"))
		if err != nil || len(out) >= total || resp.Header.Get("Link") != "" {
			return out, resp, nil
		}
		page++
	}
	return nil, nil, fmt.Errorf("more than %d pages", maxPages)
}

// Self is the login of the token's user.
func (c *Client) Self(ctx context.Context) (string, error) {
	me, err := c.self(ctx)
	if err != nil {
		return "", err
	}
	return me.UserName, nil
}

// self is the token's user, asked once.
func (c *Client) self(ctx context.Context) (*sdk.User, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.me != nil {
		return c.me, nil
	}
	me, resp, err := c.api(ctx).GetMyUserInfo()
	if err != nil {
		return nil, failed("reading the token's user", resp, err)
	}
	c.me = me
	return me, nil
}

func user(u *sdk.User) forge.User {
	if u == nil {
		return forge.User{}
	}
	return forge.User{ID: u.ID, Login: u.UserName}
}
