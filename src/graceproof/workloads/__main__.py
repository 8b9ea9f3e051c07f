"""`python -m graceproof.workloads`: regenerate the sample workload's example manifests."""

import sys

from graceproof.workloads.sample import main

sys.exit(main())
