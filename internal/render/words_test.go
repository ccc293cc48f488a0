package render

import "testing"

func TestWords(t *testing.T) {
	md := "This merge request's plan.\nMerge requests wait; merge requests into main.\n" +
		"Comment `sluice plan` on the merge request.\n```text\nmerge request from the engine\n```\n" +
		"A span: `the merge request` stays.\n"
	want := "This pull request's plan.\nPull requests wait; pull requests into main.\n" +
		"Comment `sluice plan` on the pull request.\n```text\nmerge request from the engine\n```\n" +
		"A span: `the merge request` stays.\n"
	for _, f := range []string{"gitea", "github"} {
		if got := Words(md, f); got != want {
			t.Errorf("%s:\n got %q\nwant %q", f, got, want)
		}
	}
	if got := Words(md, "gitlab"); got != md {
		t.Errorf("gitlab changed: %q", got)
	}
	if Ref("gitea", 12) != "#12" || Ref("github", 7) != "#7" || Ref("gitlab", 3) != "!3" || Ref("", 3) != "!3" {
		t.Error("Ref: the forge's reference of a merge request")
	}
}
