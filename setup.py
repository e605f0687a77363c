from setuptools import find_packages, setup

setup(
    name='vpclab',
    version='0.1.0',
    description='The AWS VPC data plane rebuilt on Mininet, Open vSwitch and os-ken',
    packages=find_packages(include=['testbed', 'testbed.*', 'controllers', 'controllers.*',
                                    'experiments']),
    python_requires='>=3.9',
    install_requires=['os-ken>=4.0', 'PyYAML>=6', 'scapy>=2.5', 'matplotlib>=3.6', 'cryptography>=3.1',
                      'pyroute2>=0.7'],
    extras_require={'test': ['pytest>=7']},
    entry_points={'console_scripts': ['vpclab = testbed.commands.cli:main']},
)
