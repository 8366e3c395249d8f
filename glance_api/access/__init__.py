"""Who calls and what they may do: the request context, policy, property protections, quotas."""
