package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
)

// prov serves the sluicetest package. One runs per Pulumi operation.
type prov struct {
	plugin.UnimplementedProvider
	getenv func(string) string
	store  *store
	delay  time.Duration
}

func newProvider(getenv func(string) string) *prov { return &prov{getenv: getenv} }

func (p *prov) Close() error { return nil }

func (p *prov) GetPluginInfo(context.Context) (plugin.PluginInfo, error) {
	v := semver.MustParse(pkgVersion)
	return plugin.PluginInfo{Version: &v}, nil
}

func (p *prov) SignalCancellation(context.Context) error { return nil }

func (p *prov) GetSchema(context.Context, plugin.GetSchemaRequest) (plugin.GetSchemaResponse, error) {
	b, err := schema()
	return plugin.GetSchemaResponse{Schema: b}, err
}

func (p *prov) CheckConfig(_ context.Context, req plugin.CheckConfigRequest) (plugin.CheckConfigResponse, error) {
	return plugin.CheckConfigResponse{Properties: req.News}, nil
}

func (p *prov) DiffConfig(_ context.Context, req plugin.DiffConfigRequest) (plugin.DiffConfigResponse, error) {
	if d := req.OldInputs.Diff(req.NewInputs, internalKey); d != nil && d.AnyChanges() {
		return plugin.DiffResult{Changes: plugin.DiffSome, DetailedDiff: plugin.NewDetailedDiffFromObjectDiff(d, true)}, nil
	}
	return plugin.DiffResult{Changes: plugin.DiffNone}, nil
}

// Configure finds the state file and the delay.
func (p *prov) Configure(_ context.Context, req plugin.ConfigureRequest) (plugin.ConfigureResponse, error) {
	path := stringOf(req.Inputs["stateFile"])
	if path == "" {
		path = p.getenv("SLUICETEST_STATE_FILE")
	}
	if path == "" {
		return plugin.ConfigureResponse{}, errors.New("no state file: set sluicetest:stateFile in the stack configuration or SLUICETEST_STATE_FILE")
	}
	p.store = &store{path: path}
	if d := p.getenv("SLUICETEST_DELAY"); d != "" {
		v, err := time.ParseDuration(d)
		if err != nil {
			return plugin.ConfigureResponse{}, fmt.Errorf("SLUICETEST_DELAY: %w", err)
		}
		p.delay = v
	}
	return plugin.ConfigureResponse{}, nil
}

func (p *prov) Check(_ context.Context, req plugin.CheckRequest) (plugin.CheckResponse, error) {
	news := req.News.Copy()
	var fails []plugin.CheckFailure
	fail := func(k, format string, args ...any) {
		fails = append(fails, plugin.CheckFailure{Property: resource.PropertyKey(k), Reason: fmt.Sprintf(format, args...)})
	}
	switch req.Type {
	case clusterType:
		// A name a test can make fail, echoing the value as providers'
		// errors do.
		if name := stringOf(news["name"]); strings.HasPrefix(name, "invalid-") {
			return plugin.CheckResponse{}, fmt.Errorf("cluster name %q is not valid", name)
		}
	case nodeGroupType:
		if _, ok := news["instanceType"]; !ok {
			news["instanceType"] = resource.NewStringProperty("t3.medium")
		}
		lo, okLo := numberOf(news["minSize"])
		want, okWant := numberOf(news["desiredSize"])
		hi, okHi := numberOf(news["maxSize"])
		if okLo && okHi && lo > hi {
			fail("minSize", "minSize %v is more than maxSize %v", lo, hi)
		}
		if okWant && okLo && want < lo {
			fail("desiredSize", "desiredSize %v is less than minSize %v", want, lo)
		}
		if okWant && okHi && want > hi {
			fail("desiredSize", "desiredSize %v is more than maxSize %v", want, hi)
		}
	default:
		return plugin.CheckResponse{}, fmt.Errorf("unknown resource type %s", req.Type)
	}
	return plugin.CheckResponse{Properties: news, Failures: fails}, nil
}

// Diff compares the old and new inputs; a change of a replace key
// replaces the resource.
func (p *prov) Diff(_ context.Context, req plugin.DiffRequest) (plugin.DiffResponse, error) {
	d := req.OldInputs.Diff(req.NewInputs, internalKey)
	if d == nil || !d.AnyChanges() {
		return plugin.DiffResult{Changes: plugin.DiffNone}, nil
	}
	detailed := plugin.NewDetailedDiffFromObjectDiff(d, true)
	var replaces []resource.PropertyKey
	for _, k := range replaceKeys[string(req.Type)] {
		if pd, ok := detailed[k]; ok {
			detailed[k] = pd.ToReplace()
			replaces = append(replaces, resource.PropertyKey(k))
		}
	}
	return plugin.DiffResult{
		Changes:      plugin.DiffSome,
		ChangedKeys:  d.ChangedKeys(),
		ReplaceKeys:  replaces,
		DetailedDiff: detailed,
	}, nil
}

func (p *prov) Create(ctx context.Context, req plugin.CreateRequest) (plugin.CreateResponse, error) {
	if req.Preview {
		return plugin.CreateResponse{Properties: outputs(req.Type.String(), "", req.Properties, nil)}, nil
	}
	if err := p.wait(ctx); err != nil {
		return plugin.CreateResponse{}, err
	}
	id, err := newID(req.Name)
	if err != nil {
		return plugin.CreateResponse{}, err
	}
	outs := outputs(req.Type.String(), id, req.Properties, nil)
	if err := p.store.put(id, req.Type.String(), outs); err != nil {
		return plugin.CreateResponse{}, err
	}
	return plugin.CreateResponse{ID: resource.ID(id), Properties: outs, Status: resource.StatusOK}, nil
}

func (p *prov) Read(_ context.Context, req plugin.ReadRequest) (plugin.ReadResponse, error) {
	rec, ok, err := p.store.get(string(req.ID))
	if err != nil || !ok {
		return plugin.ReadResponse{}, err
	}
	outs := resource.NewPropertyMapFromMap(rec.Properties)
	if v, ok := outs["adminToken"]; ok {
		outs["adminToken"] = resource.MakeSecret(v)
	}
	ins := resource.PropertyMap{}
	for k, v := range outs {
		if isInput(rec.Type, string(k)) {
			ins[k] = v
		}
	}
	return plugin.ReadResponse{ReadResult: plugin.ReadResult{ID: req.ID, Inputs: ins, Outputs: outs}, Status: resource.StatusOK}, nil
}

func (p *prov) Update(ctx context.Context, req plugin.UpdateRequest) (plugin.UpdateResponse, error) {
	outs := outputs(req.Type.String(), string(req.ID), req.NewInputs, req.OldOutputs)
	if req.Preview {
		return plugin.UpdateResponse{Properties: outs}, nil
	}
	if err := p.wait(ctx); err != nil {
		return plugin.UpdateResponse{}, err
	}
	if err := p.store.put(string(req.ID), req.Type.String(), outs); err != nil {
		return plugin.UpdateResponse{}, err
	}
	return plugin.UpdateResponse{Properties: outs, Status: resource.StatusOK}, nil
}

func (p *prov) Delete(ctx context.Context, req plugin.DeleteRequest) (plugin.DeleteResponse, error) {
	if err := p.wait(ctx); err != nil {
		return plugin.DeleteResponse{}, err
	}
	return plugin.DeleteResponse{Status: resource.StatusOK}, p.store.delete(string(req.ID))
}

// wait sleeps for the configured delay.
func (p *prov) wait(ctx context.Context) error {
	if p.delay <= 0 {
		return nil
	}
	select {
	case <-time.After(p.delay):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// outputs are the inputs plus what the provider computes. In a preview
// (id "") the computed values are unknown unless olds has them.
func outputs(typ, id string, ins, olds resource.PropertyMap) resource.PropertyMap {
	outs := resource.PropertyMap{}
	for k, v := range ins {
		if !internalKey(k) {
			outs[k] = v
		}
	}
	if v, ok := outs["adminToken"]; ok && !v.IsSecret() {
		outs["adminToken"] = resource.MakeSecret(v)
	}
	computed := func(k, v string) {
		switch {
		case olds != nil && olds.HasValue(resource.PropertyKey(k)):
			outs[resource.PropertyKey(k)] = olds[resource.PropertyKey(k)]
		case id == "":
			outs[resource.PropertyKey(k)] = resource.MakeComputed(resource.NewStringProperty(""))
		default:
			outs[resource.PropertyKey(k)] = resource.NewStringProperty(v)
		}
	}
	switch typ {
	case clusterType:
		computed("endpoint", "https://"+stringOf(ins["name"])+"."+id+".sluicetest.invalid")
	case nodeGroupType:
		computed("arn", "arn:sluicetest:nodegroup/"+stringOf(ins["cluster"])+"/"+stringOf(ins["name"])+"/"+id)
		computed("status", "ACTIVE")
	}
	return outs
}

func isInput(typ, key string) bool {
	switch typ {
	case clusterType:
		return key == "name" || key == "adminToken"
	case nodeGroupType:
		return key != "arn" && key != "status"
	}
	return false
}

func internalKey(k resource.PropertyKey) bool { return strings.HasPrefix(string(k), "__") }

func newID(name string) (string, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making an id: %w", err)
	}
	return name + "-" + hex.EncodeToString(b), nil
}

func unwrap(v resource.PropertyValue) resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}

func stringOf(v resource.PropertyValue) string {
	if v = unwrap(v); v.IsString() {
		return v.StringValue()
	}
	return ""
}

func numberOf(v resource.PropertyValue) (float64, bool) {
	if v = unwrap(v); v.IsNumber() {
		return v.NumberValue(), true
	}
	return 0, false
}
