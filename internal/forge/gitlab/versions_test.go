package gitlab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/forge"
)

// GitLab as older versions send it: the recordings named _v11 (GitLab
// 11's documentation; its merge request and comment examples stayed the
// same through 13), and real deliveries reported in GitLab's issues
// (changes_*_v*.json). See testdata/README.md.

// changesOf reads a recorded "changes" block.
func changesOf(t *testing.T, name string) map[string]any {
	t.Helper()
	var m map[string]any
	decode(t, recording(t, name), &m)
	return m
}

// checkAction parses a Merge Request Hook: the merge request action it
// maps to is want, or parsing fails with wantErr.
func checkAction(t *testing.T, body []byte, want string, wantErr error) {
	t.Helper()
	ev, err := ParseWebhook(tokenHeader(eventMergeRequest, string(testSecret)), body, testSecret, testNow)
	switch {
	case wantErr != nil:
		if !errors.Is(err, wantErr) {
			t.Errorf("err = %v, want %v", err, wantErr)
		}
	case err != nil:
		t.Error(err)
	case ev.Kind != forge.EventMR || ev.Action != want:
		t.Errorf("event %s %s, want %s", ev.Kind, ev.Action, want)
	}
}

// GitLab 11's merge request event, as documented: its user has no id.
func TestParseMergeRequestV11(t *testing.T) {
	ev, err := ParseWebhook(tokenHeader(eventMergeRequest, string(testSecret)), recording(t, "hook_merge_request_v11.json"), testSecret, testNow)
	if err != nil {
		t.Fatal(err)
	}
	want := forge.Event{Kind: forge.EventMR, Action: forge.ActionOpened, Repo: "gitlabhq/gitlab-test", MR: 1,
		Actor: forge.User{Login: "root"}, HeadSHA: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", DeliveryID: ev.DeliveryID}
	if *ev != want {
		t.Errorf("event =\n %+v, want\n %+v", *ev, want)
	}
}

// Before 16.3 GitLab reports "Mark as ready" and "Mark as draft" only as
// a change of the title's prefix, with no changes.draft: read as an edit,
// a merge request marked ready was not planned again.
func TestParseDraftByTitle(t *testing.T) {
	v11 := recording(t, "hook_merge_request_v11.json")
	update := func(title string, wip bool, changes map[string]any) []byte {
		return hookPatch(t, v11, map[string]any{"action": "update", "title": title, "work_in_progress": wip}, changes)
	}
	title := func(prev, cur string) map[string]any { return map[string]any{"title": flip(prev, cur)} }
	for _, tc := range []struct {
		name string
		body []byte
		want string
	}{
		{"WIP: removed (11.4, as delivered in gitlab-org/gitlab#25028)",
			update("Update something something to git support for something", false, changesOf(t, "changes_wip_removed_v11.4.json")), forge.ActionReady},
		{"WIP: added (11)", update("WIP: MS-Viewport", true, title("MS-Viewport", "WIP: MS-Viewport")), forge.ActionDraft},
		{"[WIP] removed (11)", update("MS-Viewport", false, title("[WIP] MS-Viewport", "MS-Viewport")), forge.ActionReady},
		{"Draft: removed (13.2 to 16.2)", update("MS-Viewport", false, title("Draft: MS-Viewport", "MS-Viewport")), forge.ActionReady},
		{"(draft) added, any case (13.2 to 16.2)", update("(draft) MS-Viewport", true, title("MS-Viewport", "(draft) MS-Viewport")), forge.ActionDraft},
		{"[Draft] replaced by Draft: (still a draft)", update("Draft: MS-Viewport", true, title("[Draft] MS-Viewport", "Draft: MS-Viewport")), forge.ActionEdited},
		{"a draft's title edited", update("Draft: MS-Viewport 2", true, title("Draft: MS-Viewport", "Draft: MS-Viewport 2")), forge.ActionEdited},
		{"a title edited", update("MS-Viewport 2", false, title("MS-Viewport", "MS-Viewport 2")), forge.ActionEdited},
		// GitLab's verdict on the current title overrules the prefix rule:
		// from 14.0, "WIP:" makes no draft.
		{"WIP: added (14.0 to 16.2: no draft)", update("WIP: MS-Viewport", false, title("MS-Viewport", "WIP: MS-Viewport")), forge.ActionEdited},
		{"a WIP: title edited (14.0 to 16.2)", update("WIP: MS-Viewport 2", false, title("WIP: MS-Viewport", "WIP: MS-Viewport 2")), forge.ActionEdited},
		// A prefix GitLab knows and Sluice does not: an edit, not a draft
		// change the other way.
		{"Draft - added (13.x)", update("Draft - MS-Viewport", true, title("Draft: MS-Viewport", "Draft - MS-Viewport")), forge.ActionEdited},
	} {
		t.Run(tc.name, func(t *testing.T) { checkAction(t, tc.body, tc.want, nil) })
	}
}

// A change of the target branch can arrive with only merge_status in
// changes (gitlab-org/gitlab#224610, GitLab 13.1): it was ignored, and the
// plans made against the old branch stayed.
func TestParseRetarget(t *testing.T) {
	v11 := recording(t, "hook_merge_request_v11.json")
	update := func(changes map[string]any) []byte {
		return hookPatch(t, v11, map[string]any{"action": "update", "target_branch": "new_branch_name"}, changes)
	}
	status := func(prev, cur string) map[string]any { return map[string]any{"merge_status": flip(prev, cur)} }
	for _, tc := range []struct {
		name    string
		body    []byte
		want    string
		wantErr error
	}{
		{"only merge_status (13.1, as delivered in gitlab-org/gitlab#224610)", update(changesOf(t, "changes_retarget_v13.1.json")), forge.ActionRetargeted, nil},
		{"only merge_status, from cannot_be_merged", update(status("cannot_be_merged", "cannot_be_merged_recheck")), forge.ActionRetargeted, nil},
		{"target_branch", update(map[string]any{"target_branch": flip("master", "new_branch_name")}), forge.ActionRetargeted, nil},
		{"target_branch and title", update(map[string]any{"target_branch": flip("master", "new_branch_name"), "title": flip("a", "b")}), forge.ActionRetargeted, nil},
		{"target_branch and new commits", hookPatch(t, v11, map[string]any{"action": "update", "oldrev": "95790bf891e76fee5e1747ab589903a6a1f80f22"},
			map[string]any{"target_branch": flip("master", "new_branch_name")}), forge.ActionSynchronize, nil},
		{"merge_status checked, nothing else", update(status("unchecked", "can_be_merged")), "", forge.ErrIgnored},
		{"merge_status with a title change", update(map[string]any{"merge_status": flip("can_be_merged", "unchecked"), "title": flip("a", "b")}), forge.ActionEdited, nil},
	} {
		t.Run(tc.name, func(t *testing.T) { checkAction(t, tc.body, tc.want, tc.wantErr) })
	}
}

// What the server makes of a retarget and of a title taking its draft
// prefix off: a plan request, each its own (not a duplicate of the push
// before it at the same head, which a synchronize would be).
func TestRetargetAndReadyArePlanned(t *testing.T) {
	v11 := recording(t, "hook_merge_request_v11.json")
	request := func(body []byte) flow.Request {
		t.Helper()
		ev, err := ParseWebhook(tokenHeader(eventMergeRequest, string(testSecret)), body, testSecret, testNow)
		if err != nil {
			t.Fatal(err)
		}
		req, err := flow.RequestFromEvent("gitlab", ev)
		if err != nil {
			t.Fatal(err)
		}
		digest := sha256.Sum256(body) // as the server keys a delivery
		req.Digest = hex.EncodeToString(digest[:])
		return req
	}
	push := request(hookPatch(t, v11, map[string]any{"action": "update", "oldrev": "95790bf891e76fee5e1747ab589903a6a1f80f22"}, nil))
	for name, body := range map[string][]byte{
		"retarget (13.1)": hookPatch(t, v11, map[string]any{"action": "update", "target_branch": "new_branch_name"}, changesOf(t, "changes_retarget_v13.1.json")),
		"WIP: removed (11.4)": hookPatch(t, v11, map[string]any{"action": "update", "title": "Update something something to git support for something"},
			changesOf(t, "changes_wip_removed_v11.4.json")),
	} {
		req := request(body)
		if req.Action != flow.ActionPlan {
			t.Errorf("%s: request %s, want %s", name, req.Action, flow.ActionPlan)
		}
		if req.SemanticKey("gitlab") == push.SemanticKey("gitlab") {
			t.Errorf("%s: a duplicate of the push at the same head (%s)", name, push.SemanticKey("gitlab"))
		}
	}
}

// Older GitLab (11) sends no user.id: the note's author is then
// object_attributes.author_id, and it is the author the forge gives back
// for that note, which the flow reads before it acts on a command.
func TestParseNoteWithoutUserID(t *testing.T) {
	body := recording(t, "hook_note_merge_request_v11.json")
	ev, err := ParseWebhook(tokenHeader(eventNote, string(testSecret)), body, testSecret, testNow)
	if err != nil {
		t.Fatal(err)
	}
	root := forge.User{ID: 1, Login: "root"}
	if ev.Kind != forge.EventComment || ev.MR != 1 || ev.Actor != root || ev.Comment == nil ||
		*ev.Comment != (forge.Comment{ID: 1244, Author: root, Body: "This MR needs work."}) {
		t.Fatalf("event = %+v, comment %+v; want comment 1244 by %+v", ev, ev.Comment, root)
	}

	// The same note as GitLab's notes API answers it (notes.md, Get
	// single merge request note: author id, username), on the fake's
	// merge request.
	f := newFakeGitLab(t)
	f.notes[testMR] = append(f.notes[testMR], &fakeNote{ID: ev.Comment.ID, Body: ev.Comment.Body,
		Author: fakeUser{ID: 1, Username: "root", Name: "Administrator", State: "active"}, CreatedAt: "2015-05-17T18:21:36Z",
		NoteableType: "MergeRequest", NoteableIID: testMR})
	c, _ := newTestClient(t, f)
	got, err := c.GetComment(context.Background(), testProject, testMR, ev.Comment.ID)
	if err != nil {
		t.Fatal(err)
	}
	if *got != *ev.Comment {
		t.Errorf("GetComment = %+v, the webhook said %+v", got, ev.Comment)
	}
}

// Older GitLab (11) does not say blocking_discussions_resolved in its
// merge request answers: its absence was read as false, an unresolved
// thread that is not there.
func TestUnresolvedThreadsWithoutBlockingField(t *testing.T) {
	var mr map[string]any
	decode(t, recording(t, "mr_single_v11.json"), &mr)
	if _, ok := mr["blocking_discussions_resolved"]; ok {
		t.Fatal("mr_single_v11.json says blocking_discussions_resolved: not GitLab 11's answer")
	}
	for _, tc := range []struct {
		name       string
		resolveAll bool
		want       int
	}{
		{"documented discussions", false, 2},
		{"all resolved", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeGitLab(t)
			f.mrRecording = "mr_single_v11.json"
			if tc.resolveAll {
				f.resolveAll()
			}
			c, _ := newTestClient(t, f)
			n, err := c.UnresolvedThreads(context.Background(), testProject, testMR)
			if err != nil || n != tc.want {
				t.Errorf("UnresolvedThreads = %d, %v; want %d", n, err, tc.want)
			}
		})
	}
}
