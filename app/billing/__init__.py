"""Billing: organisations, plans, subscriptions, metered usage enforced before provider calls,
invoices, and payments through Stripe or assigned offline by an admin (SPEC "Billing")."""
