"""What a user types: the `vpclab` command (cli), the `vpclab up` shell (shell) and the narrated
demo (demo).  The commands on a running lab (lab_commands: security-group and flowlogs from
firewall, mappings, cache, counters, alerts, placement, flows, migrate) are offered by both the
CLI and the shell with one grammar (grammar).  They work on a testbed.lab.Lab or, from a second
terminal, on the running lab found through its run state (lab_commands.RunningLab)."""
