package main

import (
	"context"
	"errors"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

var _ provider.Provider = (*sluicetest)(nil)

// sluicetest is the provider. Terraform starts one process per command;
// its resources share the store that Configure opens.
type sluicetest struct {
	getenv func(string) string
}

func newProvider(getenv func(string) string) func() provider.Provider {
	return func() provider.Provider { return &sluicetest{getenv: getenv} }
}

func (p *sluicetest) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "sluicetest"
	resp.Version = version
}

func (p *sluicetest) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "Clusters and node groups kept in a local JSON file, for tests and examples.",
		Attributes: map[string]schema.Attribute{
			"state_file": schema.StringAttribute{
				Description: "The JSON file that holds the resources. Default: the SLUICETEST_STATE_FILE environment variable.",
				Optional:    true,
			},
		},
	}
}

type providerModel struct {
	StateFile types.String `tfsdk:"state_file"`
}

// errNoStateFile is what a configuration without a state file gets.
var errNoStateFile = errors.New(`set state_file in the provider "sluicetest" block, or the SLUICETEST_STATE_FILE environment variable, to the JSON file that holds the resources`)

func (p *sluicetest) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if m.StateFile.IsUnknown() {
		resp.Diagnostics.AddError("sluicetest: state_file is not known until apply", "Give state_file a value known at plan time.")
		return
	}
	path := m.StateFile.ValueString()
	if path == "" {
		path = p.getenv("SLUICETEST_STATE_FILE")
	}
	if path == "" {
		resp.Diagnostics.AddError("sluicetest: no state file", errNoStateFile.Error())
		return
	}
	s := &store{path: path}
	resp.ResourceData = s
}

func (p *sluicetest) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		func() resource.Resource { return &clusterResource{} },
		func() resource.Resource { return &nodeGroupResource{} },
	}
}

func (p *sluicetest) DataSources(context.Context) []func() datasource.DataSource { return nil }

// configureResource hands a resource the provider's store.
func configureResource(req resource.ConfigureRequest, resp *resource.ConfigureResponse) *store {
	if req.ProviderData == nil { // validation runs before the provider is configured
		return nil
	}
	s, ok := req.ProviderData.(*store)
	if !ok {
		resp.Diagnostics.AddError("sluicetest: unexpected provider data", "This is a bug in the provider.")
	}
	return s
}
