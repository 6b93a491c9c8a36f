"""Who may see what: tokens scoped to panoramas, page sessions, and the audit of every access
(docs/access.md)."""
