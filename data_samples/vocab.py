"""Vocabularies: names, places, catalog words. Vietnamese flavour, but nothing downstream may assume it."""

from __future__ import annotations

# (family name, weight %) — rough national frequencies.
FAMILY_NAMES: list[tuple[str, float]] = [
    ("Nguyễn", 38.0), ("Trần", 11.0), ("Lê", 9.5), ("Phạm", 7.0), ("Hoàng", 5.1), ("Huỳnh", 3.0),
    ("Phan", 4.5), ("Vũ", 3.9), ("Võ", 2.5), ("Đặng", 2.1), ("Bùi", 2.0), ("Đỗ", 1.4), ("Hồ", 1.3),
    ("Ngô", 1.3), ("Dương", 1.0), ("Lý", 0.5), ("Trương", 0.8), ("Đinh", 0.6), ("Mai", 0.4), ("Lâm", 0.4),
]  # fmt: skip
MIDDLE_MALE = ["Văn", "Đức", "Minh", "Quốc", "Hữu", "Thanh", "Công", "Gia", "Xuân", "Đình"]
MIDDLE_FEMALE = ["Thị", "Ngọc", "Thu", "Thanh", "Minh", "Hoài", "Bảo", "Khánh", "Phương", "Mỹ"]
GIVEN_MALE = [
    "Anh", "Bảo", "Dũng", "Hùng", "Huy", "Khánh", "Long", "Nam", "Phúc", "Quân", "Sơn", "Tuấn", "Thắng",
    "Trung", "Việt", "Hải", "Đạt", "Khoa", "Minh", "Tài", "Hiếu", "Phong", "Thịnh", "Lộc", "Duy",
]  # fmt: skip
GIVEN_FEMALE = [
    "Anh", "Chi", "Dung", "Hà", "Hạnh", "Hương", "Lan", "Linh", "Mai", "My", "Ngân", "Nhung", "Phương",
    "Quỳnh", "Thảo", "Trang", "Uyên", "Vy", "Yến", "Hoa", "Nhi", "Tâm", "Giang", "Hằng", "Thư",
]  # fmt: skip
FOREIGN_FIRST = ["James", "Emily", "Wei", "Priya", "Daniel", "Sophie", "Kenji", "Min-jun", "Lucas", "Olivia"]
FOREIGN_LAST = ["Smith", "Tan", "Lim", "Kumar", "Müller", "Kim", "Sato", "Johnson", "Dubois", "Garcia"]

# (city, weight, landline area code, country)
CITIES: list[tuple[str, float, str]] = [
    ("TP. Hồ Chí Minh", 34.0, "028"), ("Hà Nội", 28.0, "024"), ("Đà Nẵng", 7.0, "0236"),
    ("Hải Phòng", 6.0, "0225"), ("Cần Thơ", 5.0, "0292"), ("Biên Hòa", 4.0, "0251"),
    ("Nha Trang", 3.5, "0258"), ("Huế", 3.0, "0234"), ("Vũng Tàu", 3.0, "0254"), ("Thủ Đức", 6.5, "028"),
]  # fmt: skip
FOREIGN_CITIES = [("Singapore", "SG"), ("San Jose", "US")]
COUNTRY_SPELLINGS = ["VN", "VN", "VN", "Vietnam", "Việt Nam", "vn"]

# (store city, count)
STORE_CITIES: list[tuple[str, int]] = [
    ("TP. Hồ Chí Minh", 8), ("Hà Nội", 7), ("Đà Nẵng", 2), ("Hải Phòng", 2), ("Cần Thơ", 2),
    ("Nha Trang", 1), ("Huế", 1), ("Vũng Tàu", 1),
]  # fmt: skip
STORE_AREAS = {
    "TP. Hồ Chí Minh": [
        "Quận 1",
        "Quận 3",
        "Quận 7",
        "Bình Thạnh",
        "Gò Vấp",
        "Tân Bình",
        "Phú Nhuận",
        "Thủ Đức",
    ],
    "Hà Nội": ["Hoàn Kiếm", "Cầu Giấy", "Đống Đa", "Ba Đình", "Long Biên", "Thanh Xuân", "Hà Đông"],
    "Đà Nẵng": ["Hải Châu", "Sơn Trà"],
    "Hải Phòng": ["Lê Chân", "Ngô Quyền"],
    "Cần Thơ": ["Ninh Kiều", "Cái Răng"],
    "Nha Trang": ["Trung tâm"],
    "Huế": ["Phú Hội"],
    "Vũng Tàu": ["Bãi Sau"],
}

# category: (share of catalog, min price, max price, consumable share, subcategories, brands)
CATEGORIES: dict[str, tuple[float, int, int, float, list[str], list[str]]] = {
    "shoes": (0.12, 290_000, 4_500_000, 0.0, ["Giày chạy bộ", "Sneaker", "Sandal", "Giày da"],
              ["Biti's", "Ananas", "Nike", "Adidas", "Vascara"]),
    "apparel": (0.20, 120_000, 2_800_000, 0.0, ["Áo thun", "Áo sơ mi", "Quần jeans", "Váy", "Áo khoác"],
                ["Canifa", "Routine", "Yody", "Uniqlo", "Owen"]),
    "electronics": (0.12, 250_000, 30_000_000, 0.0, ["Tai nghe", "Điện thoại", "Sạc dự phòng", "Đồng hồ", "Loa"],
                    ["Samsung", "Xiaomi", "Apple", "Sony", "Anker"]),
    "beauty": (0.16, 60_000, 1_800_000, 0.7, ["Sữa rửa mặt", "Kem chống nắng", "Son môi", "Dầu gội", "Serum"],
               ["Cocoon", "La Roche-Posay", "Innisfree", "Thorakao", "Senka"]),
    "groceries": (0.18, 20_000, 450_000, 0.95, ["Cà phê", "Nước mắm", "Gạo", "Trà", "Bánh kẹo", "Mì gói"],
                  ["Trung Nguyên", "Chinsu", "Vinamilk", "ST25", "Hảo Hảo", "Phúc Long"]),
    "baby": (0.10, 45_000, 2_500_000, 0.75, ["Sữa bột", "Tã bỉm", "Khăn ướt", "Đồ chơi", "Bình sữa"],
             ["Bobby", "Huggies", "Meiji", "Abbott", "Pigeon"]),
    "home": (0.12, 80_000, 12_000_000, 0.25, ["Nồi chiên", "Chăn ga", "Nước giặt", "Bát đĩa", "Quạt"],
             ["Sunhouse", "Lock&Lock", "Điện Quang", "OMO", "Kangaroo"]),
}  # fmt: skip
NAME_SUFFIXES = ["", "", " Pro", " Plus", " 2026", " Mini", " Classic", " (combo 2)", " chính hãng"]

SEARCH_TERMS = [
    "giày chạy bộ", "áo thun nam", "sữa bột cho bé", "tai nghe bluetooth", "kem chống nắng", "nồi chiên không dầu",
    "tã quần", "cà phê hạt", "váy công sở", "sạc dự phòng", "son kem", "gạo ST25", "khăn ướt", "quạt điều hòa",
    "iphone", "sneaker nữ", "nước mắm", "dầu gội", "serum vitamin c", "đồ chơi trẻ em",
]  # fmt: skip
WEB_PATHS = ["/", "/khuyen-mai", "/danh-muc/giay", "/danh-muc/thoi-trang", "/danh-muc/dien-tu", "/danh-muc/lam-dep",
             "/danh-muc/bach-hoa", "/danh-muc/me-va-be", "/danh-muc/nha-cua", "/blog/meo-chon-giay"]  # fmt: skip
SCREEN_NAMES = ["Home", "Category", "Search", "Promotions", "Account", "Store Locator"]
REFERRERS = ["https://www.google.com/", "https://www.facebook.com/", "https://l.facebook.com/", "https://zalo.me/",
             "https://www.tiktok.com/", "https://coccoc.com/search", ""]  # fmt: skip
WEB_USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) coc_coc_browser/130.0.0 Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; Redmi Note 12) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Mobile Safari/537.36",
]  # fmt: skip
IOS_MODELS = ["iPhone15,2", "iPhone14,7", "iPhone16,1", "iPhone13,4", "iPad13,18"]
ANDROID_MODELS = [("samsung", "SM-A546E"), ("samsung", "SM-S918B"), ("Xiaomi", "23021RAAEG"), ("OPPO", "CPH2591"),
                  ("vivo", "V2250")]  # fmt: skip
IP_PREFIXES = [
    "14.161",
    "14.232",
    "113.161",
    "113.185",
    "27.72",
    "42.114",
    "171.244",
    "116.98",
    "1.53",
    "125.235",
]

PAYMENT_METHODS = [("cash", 0.45), ("card", 0.2), ("momo", 0.15), ("zalopay", 0.08), ("vnpay_qr", 0.12)]
RETURN_REASONS = ["wrong_size", "damaged", "not_as_described", "changed_mind", "late_delivery", "defective"]
COUPONS = ["SALE10", "FREESHIP", "WELCOME50K", "BF2026", "11THANG11", "TET2026", "VIP15"]
CHAT_TOPICS = [
    "order_status",
    "delivery",
    "product_question",
    "return",
    "promotion",
    "store_hours",
    "payment",
]
TICKET_COMMENTS = {
    "nps_high": ["Giao hàng nhanh, sẽ mua tiếp", "Great service!", "Nhân viên nhiệt tình", "Sản phẩm chất lượng"],
    "nps_low": ["Giao hàng chậm", "Đóng gói cẩu thả, hàng bị móp", "App hay bị lỗi khi thanh toán",
                "Customer service was slow", "Giá cao hơn cửa hàng khác"],
}  # fmt: skip
