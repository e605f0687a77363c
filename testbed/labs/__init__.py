"""Classroom labs with automatic checks (labs/, docs/instructors.md, docs/students.md): checks files read,
validated and reported (checks), sent as real packets on a running lab (runner, with probe in the
nodes' namespaces), and the labs themselves with their solutions (catalog)."""
