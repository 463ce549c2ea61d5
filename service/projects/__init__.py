"""Projects: several backlogs per instance, each with its own members, suggestions, jobs and duplicate index."""
