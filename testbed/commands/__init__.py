"""What a user types: the `vpclab` command (cli), the `vpclab up` shell (shell), the narrated demo
(demo), and the security-group and flow-log commands (firewall).  They work through
testbed.lab.Lab or, from a second terminal, through the running lab's run state and
testbed.management_client."""
