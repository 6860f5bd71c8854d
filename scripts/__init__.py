"""Developer and test tooling for livecart (service runners, installers); not part of the installed package."""
