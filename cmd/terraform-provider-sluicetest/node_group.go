package main

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

var (
	_ resource.ResourceWithConfigure      = (*nodeGroupResource)(nil)
	_ resource.ResourceWithImportState    = (*nodeGroupResource)(nil)
	_ resource.ResourceWithValidateConfig = (*nodeGroupResource)(nil)
)

// nodeGroupResource is sluicetest_node_group: a cluster's group of nodes.
// A new instance_type replaces it; a new size updates it in place.
type nodeGroupResource struct{ store *store }

type nodeGroupModel struct {
	ID           types.String `tfsdk:"id"`
	Cluster      types.String `tfsdk:"cluster"`
	Name         types.String `tfsdk:"name"`
	DesiredSize  types.Int64  `tfsdk:"desired_size"`
	MinSize      types.Int64  `tfsdk:"min_size"`
	MaxSize      types.Int64  `tfsdk:"max_size"`
	InstanceType types.String `tfsdk:"instance_type"`
}

func (m nodeGroupModel) value() nodeGroup {
	return nodeGroup{
		Cluster:      m.Cluster.ValueString(),
		Name:         m.Name.ValueString(),
		DesiredSize:  m.DesiredSize.ValueInt64(),
		MinSize:      m.MinSize.ValueInt64(),
		MaxSize:      m.MaxSize.ValueInt64(),
		InstanceType: m.InstanceType.ValueString(),
	}
}

func (m *nodeGroupModel) set(v nodeGroup) {
	m.Cluster = types.StringValue(v.Cluster)
	m.Name = types.StringValue(v.Name)
	m.DesiredSize = types.Int64Value(v.DesiredSize)
	m.MinSize = types.Int64Value(v.MinSize)
	m.MaxSize = types.Int64Value(v.MaxSize)
	m.InstanceType = types.StringValue(v.InstanceType)
}

func (r *nodeGroupResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_node_group"
}

func (r *nodeGroupResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A cluster's node group.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"cluster":      schema.StringAttribute{Required: true, Description: "The cluster's name."},
			"name":         schema.StringAttribute{Required: true},
			"desired_size": schema.Int64Attribute{Required: true, Description: "Nodes to run, from min_size to max_size."},
			"min_size":     schema.Int64Attribute{Required: true},
			"max_size":     schema.Int64Attribute{Required: true},
			"instance_type": schema.StringAttribute{
				Optional:      true,
				Computed:      true,
				Default:       stringdefault.StaticString("t3.medium"),
				Description:   "The nodes' instance type; changing it replaces the node group. Default: t3.medium.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
		},
	}
}

// ValidateConfig checks min_size <= desired_size <= max_size, where known.
func (r *nodeGroupResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m nodeGroupModel
	if resp.Diagnostics.Append(req.Config.Get(ctx, &m)...); resp.Diagnostics.HasError() {
		return
	}
	known := func(v types.Int64) bool { return !v.IsNull() && !v.IsUnknown() }
	lo, want, hi := m.MinSize, m.DesiredSize, m.MaxSize
	if known(lo) && known(hi) && lo.ValueInt64() > hi.ValueInt64() {
		resp.Diagnostics.AddAttributeError(path.Root("min_size"), "min_size is more than max_size",
			fmt.Sprintf("min_size %d is more than max_size %d.", lo.ValueInt64(), hi.ValueInt64()))
	}
	if known(want) && known(lo) && want.ValueInt64() < lo.ValueInt64() {
		resp.Diagnostics.AddAttributeError(path.Root("desired_size"), "desired_size is less than min_size",
			fmt.Sprintf("desired_size %d is less than min_size %d.", want.ValueInt64(), lo.ValueInt64()))
	}
	if known(want) && known(hi) && want.ValueInt64() > hi.ValueInt64() {
		resp.Diagnostics.AddAttributeError(path.Root("desired_size"), "desired_size is more than max_size",
			fmt.Sprintf("desired_size %d is more than max_size %d.", want.ValueInt64(), hi.ValueInt64()))
	}
}

func (r *nodeGroupResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.store = configureResource(req, resp)
}

func (r *nodeGroupResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m nodeGroupModel
	if resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...); resp.Diagnostics.HasError() {
		return
	}
	id, err := newID(m.Name.ValueString())
	if err == nil {
		err = r.store.edit(func(c *contents) error {
			c.NodeGroups[id] = m.value()
			return nil
		})
	}
	if err != nil {
		resp.Diagnostics.AddError("creating the node group", err.Error())
		return
	}
	m.ID = types.StringValue(id)
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}

func (r *nodeGroupResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m nodeGroupModel
	if resp.Diagnostics.Append(req.State.Get(ctx, &m)...); resp.Diagnostics.HasError() {
		return
	}
	var (
		v  nodeGroup
		ok bool
	)
	err := r.store.view(func(c *contents) { v, ok = c.NodeGroups[m.ID.ValueString()] })
	if err != nil {
		resp.Diagnostics.AddError("reading the node group", err.Error())
		return
	}
	if !ok { // deleted outside Terraform
		resp.State.RemoveResource(ctx)
		return
	}
	m.set(v)
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}

func (r *nodeGroupResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m nodeGroupModel
	if resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...); resp.Diagnostics.HasError() {
		return
	}
	err := r.store.edit(func(c *contents) error {
		c.NodeGroups[m.ID.ValueString()] = m.value()
		return nil
	})
	if err != nil {
		resp.Diagnostics.AddError("updating the node group", err.Error())
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}

func (r *nodeGroupResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m nodeGroupModel
	if resp.Diagnostics.Append(req.State.Get(ctx, &m)...); resp.Diagnostics.HasError() {
		return
	}
	err := r.store.edit(func(c *contents) error {
		delete(c.NodeGroups, m.ID.ValueString())
		return nil
	})
	if err != nil {
		resp.Diagnostics.AddError("deleting the node group", err.Error())
	}
}

func (r *nodeGroupResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resource.ImportStatePassthroughID(ctx, path.Root("id"), req, resp)
}
