"""The Salesforce CRM adapter (REST API): Accounts, Contacts, Users as owners, Tasks and notes."""
