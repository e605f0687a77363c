"""What a user types: the `vpclab` command (cli), the `vpclab up` shell (shell) and the narrated
demo (demo).  The commands on a running lab (lab_commands: security-group and flowlogs from
firewall, the views of views, inspect, reachability, migrate) are offered by both the CLI and the
shell with one grammar (grammar), and print through output (-o table|json|csv, JSON shaped as the
AWS CLI's by aws).  From a second terminal only: exec and capture; offline: validate, graph,
completion and --version (info), the topology format's JSON Schema (topology_schema).  Classroom labs
(lab_check: `vpclab check` boots a topology and runs a checks file, `vpclab lab ...`; testbed/labs/).  They work on a
testbed.lab.Lab or, from a second terminal, on the running lab found through its run state
(lab_commands.RunningLab)."""
