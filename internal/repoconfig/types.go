// Package repoconfig reads and validates sluice.yaml, the per-repository
// configuration, and discovers projects when there is none.
package repoconfig

// FileName is the configuration file Sluice looks for at the repository root.
const FileName = "sluice.yaml"

// Engines Sluice knows.
const (
	EngineTerraform = "terraform"
	EngineOpenTofu  = "opentofu"
	EnginePulumi    = "pulumi"
)

// Apply modes.
const (
	ApplyAfterMerge  = "after_merge"
	ApplyBeforeMerge = "before_merge"
)

// The defaults of a project's gate: what a project without approval.min
// or apply.mode, and a merge request whose base has no rules, get.
const (
	DefaultMinApprovals = 1
	DefaultApplyMode    = ApplyAfterMerge
)

// The checks of the apply gate a project may turn off (relax), as far as
// the server allows (--repo-may-relax).
const (
	RelaxThreads = "threads"
	RelaxChecks  = "checks"
	RelaxDraft   = "draft"
)

// Relaxable lists them.
func Relaxable() []string { return []string{RelaxThreads, RelaxChecks, RelaxDraft} }

// Config is sluice.yaml, version 1.
type Config struct {
	// Version of the file format. Only 1 exists.
	Version int `yaml:"version" jsonschema:"required,enum=1,description=Version of the sluice.yaml format; always 1."`
	// Projects in the repository; a sluice.yaml lists at least one. Without
	// a sluice.yaml, projects are discovered (see Discover).
	Projects []Project `yaml:"projects,omitempty" jsonschema:"required,minItems=1,description=The infrastructure projects in this repository; at least one. (Without a sluice.yaml file Sluice discovers directories with *.tf files or a Pulumi.yaml.)"`
	// Masks are extra regular expressions whose matches are hidden in every
	// comment and log line, on top of the values the engine marks sensitive.
	Masks []string `yaml:"masks,omitempty" jsonschema:"description=Extra regular expressions (RE2 syntax) whose matches are replaced by *** in comments and logs; the values the engine marks sensitive are always hidden."`

	// File is the path the configuration was read from, relative to the
	// repository root ("" when projects were discovered).
	File string `yaml:"-" json:"-"`
	// Discovered is true when there was no sluice.yaml.
	Discovered bool `yaml:"-" json:"-"`
}

// Project is one independently planned and applied unit of infrastructure.
type Project struct {
	Name string `yaml:"name" jsonschema:"required,pattern=^[A-Za-z0-9][A-Za-z0-9._-]*$,maxLength=100,description=Unique name of the project\\, used in comments\\, commands (sluice plan -p NAME) and statuses."`
	Dir  string `yaml:"dir" jsonschema:"required,description=Directory of the project's code\\, relative to the repository root."`
	// Engine: terraform, opentofu or pulumi.
	Engine string `yaml:"engine,omitempty" jsonschema:"enum=terraform,enum=opentofu,enum=pulumi,description=Which tool plans and applies the project. Default: pulumi when the dir has a Pulumi.yaml\\, else terraform."`
	// Workspace is the Terraform/OpenTofu workspace (default "default").
	Workspace string `yaml:"workspace,omitempty" jsonschema:"pattern=^[A-Za-z0-9._~$&+=:@][A-Za-z0-9._~$&+=:@-]*$,maxLength=100,description=Terraform or OpenTofu workspace: letters\\, digits and - . _ ~ $ & + = : @ (not . or ..\\, not starting with -). Default: default. Not allowed for pulumi."`
	// Stack is the Pulumi stack.
	Stack string `yaml:"stack,omitempty" jsonschema:"pattern=^([A-Za-z0-9_.][A-Za-z0-9_.-]*/){0\\,2}[A-Za-z0-9_.][A-Za-z0-9_.-]*$,description=Pulumi stack: STACK\\, ORG/STACK or ORG/PROJECT/STACK\\, each part letters\\, digits\\, - _ and . (not . or ..\\, not starting with -). Required for pulumi; not allowed for terraform or opentofu."`
	// WhenModified globs, relative to Dir, that make the project affected.
	WhenModified []string `yaml:"when_modified,omitempty" jsonschema:"description=Glob patterns relative to dir; a change to a matching file makes the project affected. ** matches across directories and ../ reaches outside dir (inside the repository). Default depends on the engine."`
	// DependsOn names projects that must be planned and applied first.
	DependsOn []string `yaml:"depends_on,omitempty" jsonschema:"description=Names of projects that are planned and applied before this one when both are affected."`
	Apply     Apply    `yaml:"apply,omitempty" jsonschema:"description=When and how the project is applied."`
	Approval  Approval `yaml:"approval,omitempty" jsonschema:"description=Who must approve a change before it is applied."`
	// Policies are paths to Rego policy files or directories.
	Relax    []string `yaml:"relax,omitempty" jsonschema:"enum=threads,enum=checks,enum=draft,description=Checks of the apply gate this project turns off: threads (unresolved threads)\\, checks (other pipelines)\\, draft. The server decides which a repository may relax (--repo-may-relax); others are kept and the comment says so."`
	Policies []string `yaml:"policies,omitempty" jsonschema:"description=Paths (relative to the repository root) of Rego policy files or directories evaluated against every plan."`
}

// Apply settings of a project.
type Apply struct {
	Mode string `yaml:"mode,omitempty" jsonschema:"enum=after_merge,enum=before_merge,description=after_merge (default): apply when the merge request is merged. before_merge: apply on a 'sluice apply' comment\\, then merge."`
}

// Approval settings of a project.
type Approval struct {
	Min *int `yaml:"min,omitempty" jsonschema:"minimum=0,description=Minimum number of approvals\\, never counting the author's own. Default: 1."`
	// From lists users and groups (as "group:NAME") whose approvals count.
	From []string `yaml:"from,omitempty" jsonschema:"description=Users (login names) and groups (written group:NAME) whose approvals count. Empty: anyone with write access."`
	// Codeowners makes owners from CODEOWNERS eligible approvers.
	Codeowners *bool `yaml:"codeowners,omitempty" jsonschema:"description=When true\\, approvals must come from the owners of the changed files in CODEOWNERS."`
}
