"""VK Ads remarketing lists: one file of emails and one of phones (digits only), header `id`.

Plain, not hashed: the hash VK expects is undocumented and VK hashes plain uploads itself (a
decision of the audiences spec). Each file becomes its own list on VK.
"""

from .base import ClientRow, Platform
from .normalize import email, phone


class VK(Platform):
    name = "vk"
    label = "VK Ads"
    min_audience = 2000
    columns = {"emails": (("id", "email"),), "phones": (("id", "phone"),)}

    def identifier_values(self, client: ClientRow) -> dict[str, str]:
        return {"email": email(client.email), "phone": phone(client.phone, client.country)}
