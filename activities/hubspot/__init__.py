"""The HubSpot CRM adapter (REST v3): companies are accounts; tasks, notes and contacts as HubSpot has them."""
