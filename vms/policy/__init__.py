"""Agency policy presets and the policy conformance report (issue 14, item 7).

``presets`` turns ``policy_preset = "norwich-pscs" | "denver-bwc" | "ct-post"`` into
settings, each with the rule ID and the clause of the agency's text it comes from;
``conformance`` lists every rule ID of POLICY.md (``rules.toml``) with its status, the
settings in force, and the code and tests that cite it (docs/design/policy.md).
"""
