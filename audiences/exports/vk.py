"""VK Ads remarketing lists: one file of emails and one of phones (digits only), header `id`.

Plain, not hashed: the hash VK expects is undocumented and VK hashes plain uploads itself (a
decision of the audiences spec). Each file becomes its own list on VK.
"""

from .base import Platform
from .normalize import email, phone


class VK(Platform):
    name = "vk"
    label = "VK Ads"
    min_audience = 2000
    columns = {"emails": (("id", "email"),), "phones": (("id", "phone"),)}
    reads = ("email", "phone", "country")

    def identifier_columns(self, fields):
        return {"email": list(map(email, fields["email"])),
                "phone": list(map(phone, fields["phone"], fields["country"]))}
