from setuptools import find_packages, setup

setup(
    name='vpclab',
    version='0.1.0',
    description='The AWS VPC data plane rebuilt on Mininet, Open vSwitch and os-ken',
    packages=find_packages(include=['testbed', 'testbed.*', 'controllers', 'controllers.*',
                                    'experiments']),
    python_requires='>=3.9',
    install_requires=['os-ken>=4.0', 'PyYAML>=6', 'scapy>=2.5', 'matplotlib>=3.6',
                      'tabulate>=0.9',           # the views' tables
                      'shtab>=1.6',              # vpclab completion SHELL, from the argparse grammar
                      'cryptography>=3.1',       # ESP (AES-GCM) in the edge's packet loops
                      'etcd3gw>=2.7; python_version >= "3.10"',  # Hyperplane's etcd state store (gRPC gateway)
                      'pyroute2>=0.7',           # namespaces and cables over netlink, in process
                      ],
    extras_require={'test': ['pytest>=7',
                             'ruff==0.17.6',     # `make test` checks the one code style (ruff.toml)
                             'jsonschema>=4',    # tests of schema/topology.schema.json
                             'dnspython>=2',     # tests read the DNS responder's answers with it
                             ]},
    entry_points={'console_scripts': ['vpclab = testbed.commands.cli:main']},
)
