"""VK Ads remarketing lists: one file of emails and one of phones (digits only), header `id`.

Plain, not hashed: the hash VK expects is undocumented and VK hashes plain uploads itself (a
decision of the audiences spec). Each file becomes its own list on VK.
"""

from .base import ClientRow, Lines, Platform, csv_line, needs_quotes
from .normalize import email, phone


class VK(Platform):
    name = "vk"
    label = "VK Ads"
    min_audience = 2000
    columns = {"emails": (("id", "email"),), "phones": (("id", "phone"),)}
    reads = ("email", "phone", "country")

    def identifier_values(self, client: ClientRow) -> dict[str, str]:
        return {"email": email(client.email), "phone": phone(client.phone, client.country)}

    def format_batch(self, records) -> Lines:
        # identifier_values, for a batch at a time (see Platform). Phones are digits; an address
        # may hold a comma or a quote (a quoted local part) and is then quoted as csv would.
        emails, phones, email_ids, phone_ids = [], [], [], []
        skipped = 0
        for client_id, email_value, phone_value, country in records:
            address = email(email_value) if email_value else ""
            number = phone(phone_value, country) if phone_value else ""
            if address:
                emails.append(csv_line((address,)) if needs_quotes(address) else f"{address}\n")
                email_ids.append(client_id)
            if number:
                phones.append(f"{number}\n")
                phone_ids.append(client_id)
            elif not address:
                skipped += 1
        return Lines({"emails": emails, "phones": phones}, {"emails": email_ids, "phones": phone_ids}, skipped)
