"""Common EC2 instance types and their size: placement packs instances onto hosts by these numbers.

Values are AWS's published vCPUs and memory (GiB); the burstable t2/t3 types count at their full size,
since the lab has no CPU credits.
"""

INSTANCE_TYPES: dict[str, tuple[int, float]] = {
    # type: (vcpus, memory_gib)
    "t2.micro": (1, 1), "t2.small": (1, 2), "t2.medium": (2, 4), "t2.large": (2, 8),
    "t2.xlarge": (4, 16), "t2.2xlarge": (8, 32),
    "t3.nano": (2, 0.5), "t3.micro": (2, 1), "t3.small": (2, 2), "t3.medium": (2, 4),
    "t3.large": (2, 8), "t3.xlarge": (4, 16), "t3.2xlarge": (8, 32),
    "m5.large": (2, 8), "m5.xlarge": (4, 16), "m5.2xlarge": (8, 32), "m5.4xlarge": (16, 64),
    "m5.8xlarge": (32, 128),
    "c5.large": (2, 4), "c5.xlarge": (4, 8), "c5.2xlarge": (8, 16), "c5.4xlarge": (16, 32),
    "c5.9xlarge": (36, 72),
    "r5.large": (2, 16), "r5.xlarge": (4, 32), "r5.2xlarge": (8, 64), "r5.4xlarge": (16, 128),
    "m6i.large": (2, 8), "m6i.xlarge": (4, 16), "m6i.2xlarge": (8, 32),
    "c6g.medium": (1, 2), "c6g.large": (2, 4), "c6g.xlarge": (4, 8),
}
