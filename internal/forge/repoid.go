package forge

import "strings"

// RepoID is how the server names a repository, in --repos, the store,
// the API and the logs: FORGE:PATH for one on a forge ("gitea:org/infra",
// "gitlab:group/sub/infra"), a name without ':' for a plain git
// repository driven through the API ("infra").
type RepoID struct {
	// Forge is the forge's name as its adapter gives it (Forge.Name:
	// gitea, github, gitlab); "" for a plain git repository.
	Forge string
	// Path is the repository's path on the forge ("org/infra"), or the
	// plain repository's name.
	Path string
}

// ParseRepoID reads a repository id; ok reports whether it has the
// FORGE:PATH form. It does not check that the forge is one Sluice knows,
// nor the path's form: the configuration does, for the ids it accepts.
func ParseRepoID(s string) (id RepoID, ok bool) {
	forge, path, ok := strings.Cut(s, ":")
	if !ok {
		return RepoID{Path: s}, false
	}
	return RepoID{Forge: forge, Path: path}, true
}

// String is the id as written: FORGE:PATH, or a plain repository's name.
func (id RepoID) String() string {
	if id.Forge == "" {
		return id.Path
	}
	return id.Forge + ":" + id.Path
}
