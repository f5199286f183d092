"""Journeys: multi-step lifecycle flows (welcome series, win-back chains, replenishment) built on
mailing (email steps are sent by its sending, with its consent, suppression, frequency cap and
quiet hours), segments (entry, exit and the condition step's rules), audiences (journey-fed
segments) and loyalty (points). See docs/journeys.md."""
